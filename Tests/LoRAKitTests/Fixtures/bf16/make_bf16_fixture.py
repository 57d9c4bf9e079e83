#!/usr/bin/env python3
"""Reference logits of the sample model under PyTorch's bf16 autocast on CPU, next to plain fp32.

Run with the loratop-hf test environment (torch CPU, transformers), after making the model folder:
    PY=$(.ci/python-env)
    $PY integrations/hf/examples/make_model_folder.py ~/.cache/loratop/SmolLM2-135M-Instruct.Q4_1.gguf \
        ~/.cache/loratop/SmolLM2-135M-Instruct-hf
    OMP_NUM_THREADS=1 $PY Tests/LoRAKitTests/Fixtures/bf16/make_bf16_fixture.py [--model FOLDER] [--attn sdpa|eager]

The model folder is the fp32 Hugging Face twin of the sample GGUF (Q4_1 dequantized). transformers loads it in fp32;
three plain-text prompts are tokenized with the folder's tokenizer as it tokenizes by default (no chat template; the
ids used are written), and the logits at every position are computed twice, with torch.no_grad():
  - fp32: the model as loaded;
  - bf16: the same fp32 model inside `with torch.autocast("cpu", dtype=torch.bfloat16):`, logits cast to float.
    Nothing else: the weights stay fp32 and autocast casts them per op, as a PyTorch user's run does.
Writes autocast_logits.json next to this script: model folder name, torch/transformers versions, the attention
implementation, the dtypes autocast actually gave inside layer 0 (one forward's hooks), the 16 fixed vocabulary ids,
and per prompt: "text", "ids", per position "argmax_fp32", "argmax_bf16", "max_abs_fp32" (max |logit|),
"max_abs_diff_autocast_vs_fp32" (max |fp32 - bf16| over the full vocabulary), "subset_ids" (the top 16 fp32 logits'
ids, then the 16 fixed ids), "subset_fp32" and "subset_bf16" (those logits, 6 significant digits), and the argmax
agreement count. Figures only: no weights are written.
"""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n",
    "Low-rank adaptation trains two small matrices beside each frozen weight, so that",
]
TOP = 16
FIXED = 16


def sig6(x):
    return float("%.6g" % x)


def autocast_dtypes(model, torch, ids):
    """Output dtypes of layer 0's modules, and sdpa's arguments and result, during one autocast forward."""
    seen = {}
    hooks = []
    layer = model.model.layers[0]
    named = {"embed_tokens": model.model.embed_tokens, "lm_head": model.lm_head, "final_norm": model.model.norm}
    named.update({"layers.0." + n: m for n, m in layer.named_modules() if n})
    for name, m in named.items():
        def hook(mod, inp, out, name=name):
            t = out[0] if isinstance(out, tuple) else out
            if torch.is_tensor(t) and name not in seen:
                seen[name] = {"in": str(inp[0].dtype).replace("torch.", "") if inp and torch.is_tensor(inp[0]) else None,
                              "out": str(t.dtype).replace("torch.", "")}
        hooks.append(m.register_forward_hook(hook))
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def traced(q, k, v, *a, **kw):
        out = sdpa(q, k, v, *a, **kw)
        if "sdpa" not in seen:
            seen["sdpa"] = {"q": str(q.dtype), "k": str(k.dtype), "v": str(v.dtype), "out": str(out.dtype)}
            seen["sdpa"] = {k2: v2.replace("torch.", "") for k2, v2 in seen["sdpa"].items()}
        return out

    torch.nn.functional.scaled_dot_product_attention = traced
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(torch.tensor([ids]))
    finally:
        torch.nn.functional.scaled_dot_product_attention = sdpa
        for h in hooks:
            h.remove()
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.expanduser("~/.cache/loratop/SmolLM2-135M-Instruct-hf"),
                        help="the fp32 Hugging Face folder (integrations/hf/examples/make_model_folder.py)")
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"],
                        help="transformers' attention implementation (sdpa is its default)")
    parser.add_argument("--out", default=os.path.join(HERE, "autocast_logits.json"))
    args = parser.parse_args()

    import torch
    import transformers
    torch.set_num_threads(1)
    tok = transformers.AutoTokenizer.from_pretrained(args.model)
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32,
                                                              attn_implementation=args.attn).eval()
    vocab = model.config.vocab_size
    fixed = [round(i * (vocab - 1) / (FIXED - 1)) for i in range(FIXED)]

    out = {"model": os.path.basename(os.path.normpath(args.model)), "torch": torch.__version__,
           "transformers": transformers.__version__, "attn_implementation": args.attn,
           "autocast": 'torch.autocast("cpu", dtype=torch.bfloat16) on the fp32 model, logits .float()',
           "vocab_size": vocab, "fixed_ids": fixed, "prompts": []}
    print("model %s, torch %s, transformers %s, attention %s" % (out["model"], torch.__version__,
                                                                 transformers.__version__, args.attn))
    for text in PROMPTS:
        enc = tok(text)  # the tokenizer's defaults: whatever special tokens it adds by itself
        ids = [int(i) for i in enc.input_ids]
        plain = [int(i) for i in tok(text, add_special_tokens=False).input_ids]
        x = torch.tensor([ids])
        with torch.no_grad():
            f32 = model(x).logits[0].float()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                raw = model(x).logits[0]
            bf = raw.float()
        diff = (f32 - bf).abs().max(dim=-1).values
        am32, ambf = f32.argmax(-1), bf.argmax(-1)
        subset_ids, s32, sbf = [], [], []
        for p in range(len(ids)):
            sel = torch.topk(f32[p], TOP).indices.tolist() + fixed
            subset_ids.append([int(i) for i in sel])
            s32.append([sig6(f32[p, i].item()) for i in sel])
            sbf.append([sig6(bf[p, i].item()) for i in sel])
        agree = int((am32 == ambf).sum())
        out["prompts"].append({
            "text": text, "ids": ids, "special_tokens_added": ids != plain,
            "autocast_logits_dtype": str(raw.dtype).replace("torch.", ""),
            "argmax_fp32": am32.tolist(), "argmax_bf16": ambf.tolist(), "argmax_agree": agree,
            "max_abs_fp32": [sig6(v) for v in f32.abs().max(dim=-1).values.tolist()],
            "max_abs_diff_autocast_vs_fp32": [sig6(v) for v in diff.tolist()],
            "subset_ids": subset_ids, "subset_fp32": s32, "subset_bf16": sbf})
        print("%-40r positions %3d  argmax agree %2d/%d  max|d| %.4g (mean over positions %.4g)  max|logit| %.4g"
              % (text[:38], len(ids), agree, len(ids), diff.max().item(), diff.mean().item(), f32.abs().max().item()))
    out["autocast_dtypes_layer0"] = autocast_dtypes(model, torch, out["prompts"][0]["ids"])
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("tokens %d, wrote %s (%d bytes)" % (sum(len(p["ids"]) for p in out["prompts"]), args.out,
                                               os.path.getsize(args.out)))
    print("autocast dtypes:", json.dumps(out["autocast_dtypes_layer0"]))


if __name__ == "__main__":
    main()
