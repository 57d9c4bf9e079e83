"""Phi-3 parity fixture (issue 14): a tiny random Phi3ForCausalLM folder written by transformers (fused qkv_proj and
gate_up_proj, untied head, a sliding window of 6 shorter than two of the prompts) with

- the logits at every position of three prompts and transformers' greedy 24-token continuation of each;
- a PEFT LoRA adapter on PEFT's Phi-3 module names (qkv_proj, o_proj, gate_up_proj, down_proj; r 4, alpha 8, B drawn
  nonzero) saved with save_pretrained, and, on a batch of two sequences with masked targets, the loss and every
  lora_A / lora_B gradient from torch autograd, and PEFT's logits of the first sequence.

Run: ~/.cache/loratop/pyenv/bin/python make_phi3_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-phi3-hf/ (config.json, model.safetensors, expected.json), tiny-phi3-peft/ (adapter), tiny-phi3-grads.json

Then `LORATOP_WRITE_FIXTURES=1 swift test ... --filter LoratopAdapterWriter` trains an adapter with loratop and
writes it to tiny-phi3-loratop-peft/, and `make_phi3_fixture.py loratop` loads it in PEFT on the transformers model
-> tiny-phi3-loratop-peft/peft_logits.json (the logits of the three prompts).
"""
import json, os, sys
import torch
from transformers import Phi3Config, Phi3ForCausalLM
from tiny_parity import perturb, save_folder, prompts, peft_model, gradients, loratop_in_peft

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
V = 96
if len(sys.argv) > 1 and sys.argv[1] == "loratop":
    loratop_in_peft(Phi3ForCausalLM, "phi3", attn_implementation="eager")
    sys.exit(0)
cfg = Phi3Config(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128, original_max_position_embeddings=128,
                 rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, sliding_window=6,
                 pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
torch.manual_seed(43)
m = Phi3ForCausalLM(cfg).eval()
perturb(m)
d = os.path.join(here, "tiny-phi3-hf")
save_folder(m, d)
cases, gen = prompts(m)
json.dump({"prompts": cases}, open(os.path.join(d, "expected.json"), "w"))

pm = peft_model(m, ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], b_seed=47, b_scale=0.3)
pm.save_pretrained(os.path.join(here, "tiny-phi3-peft"))
count, loss = gradients(pm, gen, V, os.path.join(here, "tiny-phi3-grads.json"))
print("phi3:", sum(p.numel() for p in m.parameters()), "params;", count, "LoRA gradients; loss", loss)
