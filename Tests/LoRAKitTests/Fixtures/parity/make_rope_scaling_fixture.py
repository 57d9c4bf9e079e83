"""RoPE-scaling parity fixtures (issue 14): tiny random LlamaForCausalLM folders written by transformers with
Llama 3.x's `llama3` scaling (tied head) and with `linear` scaling (untied head), each with the logits at every
position of three prompts and transformers' greedy 24-token continuation of each.

The llama3 shape is chosen so that all three of its bands occur: head width 16 at theta 10000 gives wavelengths
6.3, 19.9, 62.8, ... positions; original context 32 with low/high frequency factors 1 and 4 puts 6.3 in the kept
(high-frequency) band, 19.9 in the blended one, and the rest in the stretched one. Prompts plus continuations run
to 44 positions, past the original context.

Run: ~/.cache/loratop/pyenv/bin/python make_rope_scaling_fixture.py   (transformers 5.24, torch 2.13 CPU)
-> tiny-llama3-hf/, tiny-llama-linear-hf/ (each: config.json, model.safetensors, expected.json)
"""
import json, os
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from tiny_parity import perturb, save_folder, prompts

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)


def tiny(name, tied, rope_scaling):
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=tied, rope_scaling=rope_scaling)
    torch.manual_seed(11)
    m = LlamaForCausalLM(cfg).eval()
    perturb(m, norm_noise=0.1)
    d = os.path.join(here, name)
    save_folder(m, d)
    cases, _ = prompts(m)
    json.dump({"rope_scaling": rope_scaling, "prompts": cases}, open(os.path.join(d, "expected.json"), "w"))
    print(name, sum(p.numel() for p in m.parameters()), "params;", "config:",
          json.load(open(os.path.join(d, "config.json"))).get("rope_parameters"))


tiny("tiny-llama3-hf", True, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 32})
tiny("tiny-llama-linear-hf", False, {"rope_type": "linear", "factor": 4.0})
