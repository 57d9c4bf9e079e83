"""Phi-3 parity fixture (issue 14): a tiny random Phi3ForCausalLM folder written by transformers (fused qkv_proj and
gate_up_proj, untied head, a sliding window of 6 shorter than two of the prompts) with

- the logits at every position of three prompts and transformers' greedy 24-token continuation of each;
- a PEFT LoRA adapter on PEFT's Phi-3 module names (qkv_proj, o_proj, gate_up_proj, down_proj; r 4, alpha 8, B drawn
  nonzero) saved with save_pretrained, and, on a batch of two sequences with masked targets, the loss and every
  lora_A / lora_B gradient from torch autograd, and PEFT's logits of the first sequence.

Run: ~/.cache/loratop/pyenv/bin/python make_phi3_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-phi3-hf/ (config.json, model.safetensors, expected.json), tiny-phi3-peft/ (adapter), tiny-phi3-grads.json

Then `LORATOP_WRITE_FIXTURES=1 swift test ... --filter GemmaLoratopAdapterWriter` trains an adapter with loratop and
writes it to tiny-phi3-loratop-peft/, and `make_phi3_fixture.py loratop` loads it in PEFT on the transformers model
-> tiny-phi3-loratop-peft/peft_logits.json (the logits of the three prompts).
"""
import json, os, sys
import torch
from transformers import Phi3Config, Phi3ForCausalLM
from peft import LoraConfig, get_peft_model

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
V = 96
if len(sys.argv) > 1 and sys.argv[1] == "loratop":
    from peft import PeftModel
    base = Phi3ForCausalLM.from_pretrained(os.path.join(here, "tiny-phi3-hf"), attn_implementation="eager").eval()
    pm = PeftModel.from_pretrained(base, os.path.join(here, "tiny-phi3-loratop-peft")).eval()
    out = []
    for p in json.load(open(os.path.join(here, "tiny-phi3-hf", "expected.json")))["prompts"]:
        with torch.no_grad():
            out.append({"ids": p["ids"], "logits": pm(torch.tensor([p["ids"]])).logits[0].flatten().tolist()})
    json.dump({"prompts": out}, open(os.path.join(here, "tiny-phi3-loratop-peft", "peft_logits.json"), "w"))
    print("phi3 loratop adapter in PEFT done")
    sys.exit(0)
cfg = Phi3Config(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128, original_max_position_embeddings=128,
                 rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, sliding_window=6,
                 pad_token_id=0, bos_token_id=1, eos_token_id=2, attn_implementation="eager")
torch.manual_seed(43)
m = Phi3ForCausalLM(cfg).eval()
with torch.no_grad():
    for p in m.parameters():
        if p.dim() == 1:
            p.add_(torch.randn_like(p) * 0.2)
        else:
            p.mul_(6.0)
d = os.path.join(here, "tiny-phi3-hf")
m.save_pretrained(d, safe_serialization=True)
if os.path.exists(os.path.join(d, "generation_config.json")):
    os.remove(os.path.join(d, "generation_config.json"))
gen = torch.Generator().manual_seed(5)
prompts = []
for n in (5, 12, 20):
    ids = [int(x) for x in torch.randint(0, V, (n,), generator=gen)]
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0]
        cont = m.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                          eos_token_id=None, pad_token_id=0)[0, n:].tolist()
    prompts.append({"ids": ids, "logits": logits.flatten().tolist(), "greedy": cont})
json.dump({"prompts": prompts}, open(os.path.join(d, "expected.json"), "w"))

lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                  target_modules=["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
pm = get_peft_model(m, lcfg)
torch.manual_seed(47)
with torch.no_grad():
    for name, p in pm.named_parameters():
        if "lora_B" in name:
            p.copy_(torch.randn_like(p) * 0.3)
pm.save_pretrained(os.path.join(here, "tiny-phi3-peft"))
inputs = torch.randint(0, V, (2, 16), generator=gen)
targets = torch.randint(0, V, (2, 16), generator=gen)
targets[0, :5] = -100
targets[1, 12:] = -100
out = pm(input_ids=inputs).logits
loss = torch.nn.functional.cross_entropy(out.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
loss.backward()
grads = {}
for name, p in pm.named_parameters():
    if p.grad is not None and "lora_" in name:
        grads[name.replace("base_model.model.", "", 1).replace(".default.weight", "")] = p.grad.flatten().tolist()
with torch.no_grad():
    adapted = pm(input_ids=inputs).logits[0].flatten().tolist()
json.dump({"inputs": inputs.flatten().tolist(), "targets": targets.flatten().tolist(), "batch": 2, "seq_len": 16,
           "loss": float(loss), "logits_seq0": adapted, "grads": grads},
          open(os.path.join(here, "tiny-phi3-grads.json"), "w"))
print("phi3:", sum(p.numel() for p in m.parameters()), "params;", len(grads), "LoRA gradients; loss", float(loss))
