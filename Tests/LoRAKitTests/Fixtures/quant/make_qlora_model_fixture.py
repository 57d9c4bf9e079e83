#!/usr/bin/env python3
"""The whole SmolLM2 model with its linear layers in bitsandbytes NF4 + double quantization, as transformers runs it:
the reference for loratop's QLoRA base end to end (not only the packed codes, which bnb_real.json covers).

Run with the reference venv (transformers + bitsandbytes 0.50.2, CPU):
    ~/.cache/loratop-ref/venv/bin/python Tests/LoRAKitTests/Fixtures/quant/make_qlora_model_fixture.py

Loads the float32 HF twin of the sample GGUF (~/.cache/loratop-ref/models/smollm2-135m-hf) twice: as float32, and with
BitsAndBytesConfig(load_in_4bit, nf4, double quant, blocksize 64, compute float32). transformers quantizes every
linear layer of the blocks and keeps the embedding (and the tied head) in float32; the float32 embedding is the GGUF's
Q8_0 table dequantized, which is what loratop computes from the file, so both sides see the same embedding.

For the prompts of ../export/prompts.json it writes qlora_model.json:
  for each prompt and each of "f32" and "nf4_dq": the mean next-token cross-entropy over the prompt (float64), the
  argmax id at every position, and the logits of 64 fixed ids at every position.
"""
import json, os
import torch
import bitsandbytes as bnb
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

HERE = os.path.dirname(os.path.abspath(__file__))
HF = os.path.expanduser("~/.cache/loratop-ref/models/smollm2-135m-hf")
assert bnb.__version__ == "0.50.2", bnb.__version__

prompts = json.load(open(os.path.join(HERE, "..", "export", "prompts.json")))["prompts"]
fixed = list(range(0, 49152, 768))  # 64 ids spread over the vocabulary

models = {
    "f32": AutoModelForCausalLM.from_pretrained(HF, dtype=torch.float32),
    "nf4_dq": AutoModelForCausalLM.from_pretrained(
        HF, dtype=torch.float32, device_map="cpu",
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32)),
}
n4 = sum(1 for m in models["nf4_dq"].modules() if isinstance(m, bnb.nn.Linear4bit))
assert n4 == 30 * 7, n4  # every projection of every block, nothing else

out = {"prompts": []}
for p in prompts:
    ids = torch.tensor([p["ids"]])
    entry = {"ids": p["ids"]}
    for name, model in models.items():
        model.eval()
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double()
        ce = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="mean").item()
        entry[name] = {
            "loss": ce,
            "argmax": logits.argmax(-1).tolist(),
            "logits": logits[:, fixed].float().tolist(),
        }
        print(f"{name:7s} prompt of {len(p['ids'])} tokens: loss {ce:.4f}")
    out["prompts"].append(entry)
out["fixed_ids"] = fixed
with open(os.path.join(HERE, "qlora_model.json"), "w") as f:
    json.dump(out, f)
print("wrote qlora_model.json")
