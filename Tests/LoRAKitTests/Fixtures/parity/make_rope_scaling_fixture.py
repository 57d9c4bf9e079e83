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

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)


def tiny(name, tied, rope_scaling):
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=tied, rope_scaling=rope_scaling)
    torch.manual_seed(11)
    m = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 1:   # make the norms non-trivial
                p.add_(torch.randn_like(p) * 0.1)
            else:              # and the weights large enough that positions matter to the logits
                p.mul_(6.0)
    d = os.path.join(here, name)
    m.save_pretrained(d, safe_serialization=True)
    gen = torch.Generator().manual_seed(5)
    prompts = []
    for n in (5, 12, 20):
        ids = [int(x) for x in torch.randint(0, 96, (n,), generator=gen)]
        with torch.no_grad():
            logits = m(torch.tensor([ids])).logits[0]
            cont = m.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                              eos_token_id=None, pad_token_id=0)[0, n:].tolist()
        prompts.append({"ids": ids, "logits": logits.flatten().tolist(), "greedy": cont})
    json.dump({"rope_scaling": rope_scaling, "prompts": prompts}, open(os.path.join(d, "expected.json"), "w"))
    for junk in ("generation_config.json",):
        if os.path.exists(os.path.join(d, junk)):
            os.remove(os.path.join(d, junk))
    print(name, sum(p.numel() for p in m.parameters()), "params;", "config:",
          json.load(open(os.path.join(d, "config.json"))).get("rope_parameters"))


tiny("tiny-llama3-hf", True, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 32})
tiny("tiny-llama-linear-hf", False, {"rope_type": "linear", "factor": 4.0})
