"""Mistral's sliding window (issue 14): a tiny random MistralForCausalLM folder with sliding_window 6, shorter than two
of the prompts, written by transformers, with the logits at every position of three prompts and transformers'
greedy 24-token continuation of each.

Run: ~/.cache/loratop/pyenv/bin/python make_mistral_fixture.py   (transformers 5.24, torch 2.13 CPU)
-> tiny-mistral-hf/ (config.json, model.safetensors, expected.json)
"""
import json, os
import torch
from transformers import MistralConfig, MistralForCausalLM

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
cfg = MistralConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
                    tie_word_embeddings=False, sliding_window=6, attn_implementation="eager")
torch.manual_seed(37)
m = MistralForCausalLM(cfg).eval()
with torch.no_grad():
    for p in m.parameters():
        if p.dim() == 1:
            p.add_(torch.randn_like(p) * 0.2)
        else:
            p.mul_(6.0)
d = os.path.join(here, "tiny-mistral-hf")
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
print("mistral:", sum(p.numel() for p in m.parameters()), "params")
