"""Mistral's sliding window (issue 14): a tiny random MistralForCausalLM folder with sliding_window 6, shorter than two
of the prompts, written by transformers, with the logits at every position of three prompts and transformers'
greedy 24-token continuation of each.

Run: ~/.cache/loratop/pyenv/bin/python make_mistral_fixture.py   (transformers 5.24, torch 2.13 CPU)
-> tiny-mistral-hf/ (config.json, model.safetensors, expected.json)
"""
import json, os
import torch
from transformers import MistralConfig, MistralForCausalLM
from tiny_parity import perturb, save_folder, prompts

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
cfg = MistralConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
                    tie_word_embeddings=False, sliding_window=6, attn_implementation="eager")
torch.manual_seed(37)
m = MistralForCausalLM(cfg).eval()
perturb(m)
d = os.path.join(here, "tiny-mistral-hf")
save_folder(m, d)
cases, _ = prompts(m)
json.dump({"prompts": cases}, open(os.path.join(d, "expected.json"), "w"))
print("mistral:", sum(p.numel() for p in m.parameters()), "params")
