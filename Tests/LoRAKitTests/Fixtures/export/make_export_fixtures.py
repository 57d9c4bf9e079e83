"""Reference fixtures for loratop's adapter exports, made with transformers + PEFT (float32, CPU).

Steps (run from this folder with the reference venv, ~/.cache/loratop-ref/venv/bin/python):
  make_export_fixtures.py peft          prompts.json (3 prompts and their token ids); a PEFT LoRA made by PEFT itself
                                        (init_lora_weights=False: random nonzero A and B, r=2, targets q,v,down) saved
                                        to peft_from_transformers/, and its logits -> peft_logits.json
  (then: LORATOP_WRITE_FIXTURES=1 swift test ... --filter ExportFixtureWriter
         writes peft_from_loratop/ here and, under /tmp/loratop-export/, merged-hf/, adapter.gguf, merged.gguf)
  make_export_fixtures.py from-loratop  PEFT loads peft_from_loratop/ onto the transformers model -> peft_from_loratop_logits.json
  make_export_fixtures.py merged        transformers loads /tmp/loratop-export/merged-hf -> merged_hf_logits.json
  (llama.cpp: make_llamacpp_fixture.py, with the llama-cpp-python venv)

The base is the float32 HF twin of the sample GGUF (~/.cache/loratop-ref/models/smollm2-135m-hf), i.e. the GGUF's
Q4_1/Q8_0 weights dequantized, so loratop's GGUF base (expanded to fp32) is the same model.
Logits are stored per position as the top 20 and a fixed subset of 64 vocabulary ids.
"""
import json, os, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

here = os.path.dirname(os.path.abspath(__file__))
hf = os.path.expanduser("~/.cache/loratop-ref/models/smollm2-135m-hf")
tmp = "/tmp/loratop-export"
torch.set_num_threads(2)


def base_model():
    return AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()


def prompts():
    with open(os.path.join(here, "prompts.json")) as f:
        return json.load(f)


def logits_fixture(model, name, extra=None):
    ps = prompts()
    g = torch.Generator().manual_seed(99)
    subset = sorted(torch.randperm(49152, generator=g)[:64].tolist())
    out = {"subset_ids": subset, "prompts": []}
    if extra:
        out.update(extra)
    for p in ps["prompts"]:
        with torch.no_grad():
            logits = model(torch.tensor([p["ids"]])).logits[0]
        positions = []
        for row in logits:
            top = torch.topk(row, 20)
            positions.append({"argmax": int(row.argmax()),
                              "top": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
                              "subset": [float(row[i]) for i in subset]})
        out["prompts"].append({"ids": p["ids"], "positions": positions})
    with open(os.path.join(here, name), "w") as f:
        json.dump(out, f)
    print("wrote", name)


def step_peft():
    from peft import LoraConfig, get_peft_model
    tok = AutoTokenizer.from_pretrained(hf)
    chat = lambda u: tok.apply_chat_template([{"role": "user", "content": u}], tokenize=False, add_generation_prompt=True)
    texts = ["The capital of France is", chat("Name three colours of autumn leaves."), "def add(a, b):\n    return"]
    ps = {"prompts": [{"text": t, "ids": tok(t, add_special_tokens=False).input_ids} for t in texts]}
    with open(os.path.join(here, "prompts.json"), "w") as f:
        json.dump(ps, f, indent=1)
    torch.manual_seed(11)
    cfg = LoraConfig(r=2, lora_alpha=2, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"],
                     init_lora_weights=False, task_type="CAUSAL_LM")
    model = get_peft_model(base_model(), cfg).eval()
    folder = os.path.join(here, "peft_from_transformers")
    model.save_pretrained(folder, safe_serialization=True)
    for junk in ("README.md",):
        if os.path.exists(os.path.join(folder, junk)):
            os.remove(os.path.join(folder, junk))
    logits_fixture(model, "peft_logits.json")


def step_from_loratop():
    from peft import PeftModel
    model = PeftModel.from_pretrained(base_model(), os.path.join(here, "peft_from_loratop")).eval()
    logits_fixture(model, "peft_from_loratop_logits.json")


def step_merged():
    model = AutoModelForCausalLM.from_pretrained(os.path.join(tmp, "merged-hf"), dtype=torch.float32).eval()
    logits_fixture(model, "merged_hf_logits.json")


steps = {"peft": step_peft, "from-loratop": step_from_loratop, "merged": step_merged}
for s in sys.argv[1:] or ["peft"]:
    steps[s]()
