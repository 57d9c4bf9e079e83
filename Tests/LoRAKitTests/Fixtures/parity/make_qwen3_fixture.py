"""Qwen3 parity fixture (issue 14): a tiny random Qwen3ForCausalLM folder written by transformers (per-head q/k
RMSNorm before RoPE, no q/k/v bias, head_dim 24 != hidden / heads = 16, tied head) with

- the logits at every position of three prompts and transformers' greedy 24-token continuation of each;
- a PEFT LoRA adapter on all seven projections (r 4, alpha 8, B drawn nonzero) saved with save_pretrained, and, on a
  batch of two sequences with masked targets, the loss and every lora_A / lora_B gradient from torch autograd.

Run: ~/.cache/loratop/pyenv/bin/python make_qwen3_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-qwen3-hf/ (config.json, model.safetensors, expected.json), tiny-qwen3-peft/ (adapter), tiny-qwen3-grads.json
"""
import json, os
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM
from peft import LoraConfig, get_peft_model

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)

cfg = Qwen3Config(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6,
                  rope_theta=10000.0, tie_word_embeddings=True)
torch.manual_seed(13)
m = Qwen3ForCausalLM(cfg).eval()
with torch.no_grad():
    for p in m.parameters():
        if p.dim() == 1:   # every norm non-trivial, the q/k norms included
            p.add_(torch.randn_like(p) * 0.2)
        else:
            p.mul_(6.0)
d = os.path.join(here, "tiny-qwen3-hf")
m.save_pretrained(d, safe_serialization=True)
if os.path.exists(os.path.join(d, "generation_config.json")):
    os.remove(os.path.join(d, "generation_config.json"))

gen = torch.Generator().manual_seed(5)
prompts = []
for n in (5, 12, 20):
    ids = [int(x) for x in torch.randint(0, 96, (n,), generator=gen)]
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0]
        cont = m.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                          eos_token_id=None, pad_token_id=0)[0, n:].tolist()
    prompts.append({"ids": ids, "logits": logits.flatten().tolist(), "greedy": cont})
json.dump({"prompts": prompts}, open(os.path.join(d, "expected.json"), "w"))

# LoRA on all seven projections, B nonzero so every gradient is
lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
pm = get_peft_model(m, lcfg)
torch.manual_seed(17)
with torch.no_grad():
    for name, p in pm.named_parameters():
        if "lora_B" in name:
            p.copy_(torch.randn_like(p) * 0.3)
pm.save_pretrained(os.path.join(here, "tiny-qwen3-peft"))
inputs = torch.randint(0, 96, (2, 16), generator=gen)
targets = torch.randint(0, 96, (2, 16), generator=gen)
targets[0, :5] = -100   # a prompt's positions
targets[1, 12:] = -100  # padding
out = pm(input_ids=inputs).logits
loss = torch.nn.functional.cross_entropy(out.reshape(-1, 96), targets.reshape(-1), ignore_index=-100)
loss.backward()
grads = {}
for name, p in pm.named_parameters():
    if p.grad is not None and "lora_" in name:
        # base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight -> model.layers.0.self_attn.q_proj.lora_A
        key = name.replace("base_model.model.", "", 1).replace(".default.weight", "")
        grads[key] = p.grad.flatten().tolist()
with torch.no_grad():
    adapted = pm(input_ids=inputs).logits[0].flatten().tolist()
json.dump({"inputs": inputs.flatten().tolist(), "targets": targets.flatten().tolist(), "batch": 2, "seq_len": 16,
           "loss": float(loss), "logits_seq0": adapted, "grads": grads},
          open(os.path.join(here, "tiny-qwen3-grads.json"), "w"))
print("qwen3:", sum(p.numel() for p in m.parameters()), "params;", len(grads), "LoRA gradients; loss", float(loss))
