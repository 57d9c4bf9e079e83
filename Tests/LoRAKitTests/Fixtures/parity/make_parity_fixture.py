"""Parity fixtures for loratop's model code, made with transformers (float32, CPU).

1. SmolLM2-135M-Instruct loaded by transformers from the sample GGUF (dequantized to float32): token ids of five
   prompts, logits at every position (the argmax, the top 20, and a fixed subset of 256 vocabulary ids), and
   the greedy 48-token continuation.  -> smollm2_logits.json
2. Tiny random LlamaForCausalLM and Qwen2ForCausalLM folders written by transformers (save_pretrained), with
   their logits on a fixed token sequence. -> tiny-llama-hf/, tiny-qwen2-hf/ (each with expected_logits.json)

Run: ~/.cache/loratop-ref/venv/bin/python make_parity_fixture.py [GGUF_DIR]
"""
import json, os, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
torch.set_num_threads(2)

gguf_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/loratop-ref/models")
gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf)
model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf, dtype=torch.float32).eval()

chat = lambda u: tok.apply_chat_template([{"role": "user", "content": u}], tokenize=False, add_generation_prompt=True)
prompts = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    chat("What is 12 times 7?"),
    chat("Write a haiku about autumn leaves."),
    "Les températures baissent en automne, et 東京 est loin. 🍂 Numbers: 3.14159, 2048;",
]
g = torch.Generator().manual_seed(1234)
subset = sorted(torch.randperm(model.config.vocab_size, generator=g)[:256].tolist())
stop_ids = sorted({tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")})
out = {"gguf": gguf, "subset_ids": subset, "stop_ids": stop_ids, "prompts": []}
for p in prompts:
    ids = tok(p, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
        gen = model.generate(torch.tensor([ids]), max_new_tokens=48, do_sample=False,
                             eos_token_id=stop_ids,
                             pad_token_id=tok.eos_token_id)[0, len(ids):].tolist()
    positions = []
    for row in logits:
        top = torch.topk(row, 20)
        positions.append({"argmax": int(row.argmax()),
                          "top": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
                          "subset": [float(row[i]) for i in subset]})
    out["prompts"].append({"text": p, "ids": ids, "positions": positions, "greedy": gen})
with open(os.path.join(here, "smollm2_logits.json"), "w") as f:
    json.dump(out, f)
print("smollm2: %d prompts" % len(prompts))

def tiny(cls, cfg_cls, name, **extra):
    cfg = cfg_cls(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                  tie_word_embeddings=False, **extra)
    torch.manual_seed(7)
    m = cls(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 1:   # make norms and biases non-trivial
                p.add_(torch.randn_like(p) * 0.1)
    d = os.path.join(here, name)
    m.save_pretrained(d, safe_serialization=True)
    ids = [int(x) for x in torch.randint(0, 96, (20,), generator=torch.Generator().manual_seed(3))]
    with torch.no_grad():
        logits = m(torch.tensor([ids])).logits[0]
    json.dump({"ids": ids, "logits": logits.flatten().tolist()}, open(os.path.join(d, "expected_logits.json"), "w"))
    for junk in ("generation_config.json",):
        if os.path.exists(os.path.join(d, junk)):
            os.remove(os.path.join(d, junk))
    print(name, sum(p.numel() for p in m.parameters()), "params")

tiny(LlamaForCausalLM, LlamaConfig, "tiny-llama-hf")
tiny(Qwen2ForCausalLM, Qwen2Config, "tiny-qwen2-hf")
