"""RoPE-scaling parity fixtures (issue 14): tiny random LlamaForCausalLM folders written by transformers with
Llama 3.x's `llama3` scaling (tied head) and with `linear` scaling (untied head), each with the logits at every
position of three prompts and transformers' greedy 24-token continuation of each.

The llama3 shape is chosen so that all three of its bands occur: head width 16 at theta 10000 gives wavelengths
6.3, 19.9, 62.8, ... positions; original context 32 with low/high frequency factors 1 and 4 puts 6.3 in the kept
(high-frequency) band, 19.9 in the blended one, and the rest in the stretched one. Prompts plus continuations run
to 44 positions, past the original context.

The dynamic (NTK) folder has max_position_embeddings 12, the context its frequencies grow from: the 5- and 12-id
prompts start inside it and their continuations leave it (every generated token then has frequencies of its own
length, the cached keys keeping theirs, as transformers generates), the 20-id one starts past it. Each forward starts
from the rotary embedding's first state (tiny_parity.fresh_rope). It also gets a PEFT adapter and the LoRA gradients
of a masked batch of 16 positions, past the context too; the llama3 folder gets the same (its scaled frequencies act
at every position).

Run: ~/.cache/loratop/pyenv/bin/python make_rope_scaling_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-llama3-hf/, tiny-llama-linear-hf/, tiny-llama-dynamic-hf/ (each: config.json, model.safetensors,
   expected.json), tiny-llama3-peft/ and tiny-llama-dynamic-peft/ (adapters), tiny-llama3-grads.json and
   tiny-llama-dynamic-grads.json

Then `LORATOP_WRITE_FIXTURES=1 swift test ... --filter LoratopAdapterWriter` trains adapters with loratop and writes
them to tiny-llama3-loratop-peft/ and tiny-llama-dynamic-loratop-peft/, and `make_rope_scaling_fixture.py loratop`
loads each in PEFT on the transformers model -> peft_logits.json there (the logits of the three prompts).
"""
import json, os, sys
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from tiny_parity import perturb, save_folder, prompts, fresh_rope, peft_model, gradients, loratop_in_peft

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
if len(sys.argv) > 1 and sys.argv[1] == "loratop":
    loratop_in_peft(LlamaForCausalLM, "llama3")
    loratop_in_peft(LlamaForCausalLM, "llama-dynamic", reset=fresh_rope)
    sys.exit(0)


def tiny(name, tied, rope_scaling, max_positions=128, reset=None):
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=max_positions, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=tied, rope_scaling=rope_scaling)
    torch.manual_seed(11)
    m = LlamaForCausalLM(cfg).eval()
    perturb(m, norm_noise=0.1)
    d = os.path.join(here, name)
    save_folder(m, d)
    cases, gen = prompts(m, reset=reset)
    json.dump({"rope_scaling": rope_scaling, "prompts": cases}, open(os.path.join(d, "expected.json"), "w"))
    print(name, sum(p.numel() for p in m.parameters()), "params;", "config:",
          json.load(open(os.path.join(d, "config.json"))).get("rope_parameters"))
    return m, gen


m, gen = tiny("tiny-llama3-hf", True, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 32})
pm = peft_model(m, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], b_seed=23, b_scale=0.3)
pm.save_pretrained(os.path.join(here, "tiny-llama3-peft"))
count, loss = gradients(pm, gen, 96, os.path.join(here, "tiny-llama3-grads.json"))
print("llama3:", count, "LoRA gradients; loss", loss)
tiny("tiny-llama-linear-hf", False, {"rope_type": "linear", "factor": 4.0})
m, gen = tiny("tiny-llama-dynamic-hf", False, {"rope_type": "dynamic", "factor": 4.0}, max_positions=12, reset=fresh_rope)
pm = peft_model(m, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], b_seed=19, b_scale=0.3)
pm.save_pretrained(os.path.join(here, "tiny-llama-dynamic-peft"))
count, loss = gradients(pm, gen, 96, os.path.join(here, "tiny-llama-dynamic-grads.json"), reset=fresh_rope)
print("dynamic:", count, "LoRA gradients; loss", loss)
