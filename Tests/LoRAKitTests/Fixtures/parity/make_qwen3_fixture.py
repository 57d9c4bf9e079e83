"""Qwen3 parity fixture (issue 14): a tiny random Qwen3ForCausalLM folder written by transformers (per-head q/k
RMSNorm before RoPE, no q/k/v bias, head_dim 24 != hidden / heads = 16, tied head) with

- the logits at every position of three prompts and transformers' greedy 24-token continuation of each;
- a PEFT LoRA adapter on all seven projections (r 4, alpha 8, B drawn nonzero) saved with save_pretrained, and, on a
  batch of two sequences with masked targets, the loss and every lora_A / lora_B gradient from torch autograd.

Run: ~/.cache/loratop/pyenv/bin/python make_qwen3_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-qwen3-hf/ (config.json, model.safetensors, expected.json), tiny-qwen3-peft/ (adapter), tiny-qwen3-grads.json

Then `LORATOP_WRITE_FIXTURES=1 swift test ... --filter LoratopAdapterWriter` trains an adapter with loratop and
writes it to tiny-qwen3-loratop-peft/, and `make_qwen3_fixture.py loratop` loads it in PEFT on the transformers model
-> tiny-qwen3-loratop-peft/peft_logits.json (the logits of the three prompts).
"""
import json, os, sys
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM
from tiny_parity import perturb, save_folder, prompts, peft_model, gradients, loratop_in_peft

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
if len(sys.argv) > 1 and sys.argv[1] == "loratop":
    loratop_in_peft(Qwen3ForCausalLM, "qwen3")
    sys.exit(0)

cfg = Qwen3Config(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6,
                  rope_theta=10000.0, tie_word_embeddings=True)
torch.manual_seed(13)
m = Qwen3ForCausalLM(cfg).eval()
perturb(m)   # every norm non-trivial, the q/k norms included
d = os.path.join(here, "tiny-qwen3-hf")
save_folder(m, d)
cases, gen = prompts(m)
json.dump({"prompts": cases}, open(os.path.join(d, "expected.json"), "w"))

# LoRA on all seven projections, B nonzero so every gradient is
pm = peft_model(m, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], b_seed=17, b_scale=0.3)
pm.save_pretrained(os.path.join(here, "tiny-qwen3-peft"))
count, loss = gradients(pm, gen, 96, os.path.join(here, "tiny-qwen3-grads.json"))
print("qwen3:", sum(p.numel() for p in m.parameters()), "params;", count, "LoRA gradients; loss", loss)
