"""Gemma 2 and Gemma 3 parity fixtures (issue 14): tiny random Gemma2ForCausalLM and Gemma3ForCausalLM folders written
by transformers, eager attention, each with what sets the family apart from LLaMA switched on and made to matter:

- embeddings scaled by sqrt(hidden); RMSNorm with (1 + w), every norm weight drawn nonzero; GeGLU (tanh GELU);
  the post-attention and post-feed-forward norms; query_pre_attn_scalar != head_dim; head_dim != hidden / heads;
  tied head; sliding-window layers with a window of 6, shorter than two of the prompts;
- Gemma 2: attention logit soft-capping at 5 and final logit soft-capping at 3 (small, so tanh bends them);
- Gemma 3: per-head q/k norms, local layers with their own RoPE base (10,000) and global layers with theirs (1e6),
  the layer pattern sliding, full, sliding.

For each: the logits at every position of three prompts and transformers' greedy 24-token continuation of each; a PEFT
LoRA adapter on all seven projections (r 4, alpha 8, B drawn nonzero) saved with save_pretrained, and, on a batch of
two sequences with masked targets, the loss and every lora_A / lora_B gradient from torch autograd.

Run: ~/.cache/loratop/pyenv/bin/python make_gemma_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-gemma2-hf/, tiny-gemma2-peft/, tiny-gemma2-grads.json and the same for gemma3

Then, for the other direction: `LORATOP_WRITE_FIXTURES=1 swift test ... --filter LoratopAdapterWriter` trains an
adapter with loratop on each folder and writes it as PEFT files to tiny-NAME-loratop-peft/, and
  ~/.cache/loratop/pyenv/bin/python make_gemma_fixture.py loratop
loads each in PEFT on the transformers model -> tiny-NAME-loratop-peft/peft_logits.json (the logits of the three
prompts, the same structure as expected.json).
"""
import sys
import json, os
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig, Gemma3ForCausalLM
from tiny_parity import perturb, save_folder, prompts, peft_model, gradients, loratop_in_peft

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
V = 96


def build(name, model):
    perturb(model)   # Gemma's norms start at w = 0, i.e. a factor 1: make every one non-trivial
    d = os.path.join(here, f"tiny-{name}-hf")
    save_folder(model, d)
    cases, gen = prompts(model, V)
    json.dump({"prompts": cases}, open(os.path.join(d, "expected.json"), "w"))
    pm = peft_model(model, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], b_seed=17, b_scale=0.3)
    pm.save_pretrained(os.path.join(here, f"tiny-{name}-peft"))
    count, loss = gradients(pm, gen, V, os.path.join(here, f"tiny-{name}-grads.json"))
    print(f"{name}:", sum(p.numel() for p in model.parameters()), "params;", count, "LoRA gradients; loss", loss)


if len(sys.argv) > 1 and sys.argv[1] == "loratop":
    loratop_in_peft(Gemma2ForCausalLM, "gemma2", attn_implementation="eager")
    loratop_in_peft(Gemma3ForCausalLM, "gemma3", attn_implementation="eager")
    sys.exit(0)

g2 = Gemma2Config(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6,
                  rope_theta=10000.0, tie_word_embeddings=True, query_pre_attn_scalar=20, sliding_window=6,
                  attn_logit_softcapping=5.0, final_logit_softcapping=3.0, hidden_activation="gelu_pytorch_tanh",
                  attn_implementation="eager")
torch.manual_seed(13)
build("gemma2", Gemma2ForCausalLM(g2).eval())

g3 = Gemma3TextConfig(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                      num_key_value_heads=1, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, query_pre_attn_scalar=32, sliding_window=6,
                      layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                      rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                       "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
                      hidden_activation="gelu_pytorch_tanh", attn_implementation="eager")
torch.manual_seed(19)
build("gemma3", Gemma3ForCausalLM(g3).eval())
