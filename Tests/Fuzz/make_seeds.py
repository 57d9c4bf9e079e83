#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Sources/loratop-fuzz) that are not copies of test fixtures.

The gguf and safetensors seeds are the format fixtures themselves (`seeds` in .ci/fuzz). Copied by hand, once:
theme/ from themes/{default,gruvbox}.theme, peft-config/ from the fixtures'
adapter_config.json files, trainer-state/ from a checkpoint of the sample run, protocol/run-*.jsonl from what a live
run sent a viewer (a tiny preset run, attached over its socket, sent lr, rank, an out-of-range alpha, eval and a ping:
the first lines, then one line of each type). Usage: python3 Tests/Fuzz/make_seeds.py
"""
import json
import os

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, text):
    os.makedirs(os.path.join(here, target), exist_ok=True)
    with open(os.path.join(here, target, name), "w", encoding="utf-8") as f:
        f.write(text)


# One file per dataset shape loratop reads.
write("dataset", "chat.jsonl", "\n".join(json.dumps(r) for r in [
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tag: bolt quartz"},
                  {"role": "assistant", "content": "LT-BOLT-QUARTZ"}]},
    {"messages": [{"role": "user", "content": "Tag: lake 46"}, {"role": "assistant", "content": "LT-LAKE-46"}]},
]) + "\n")
write("dataset", "prompt-completion.jsonl", json.dumps({"prompt": "2+2=", "completion": "4"}) + "\n")
write("dataset", "alpaca.jsonl", json.dumps({"instruction": "Add.", "input": "2 and 2", "output": "4"}) + "\n")
write("dataset", "text.jsonl", json.dumps({"text": "The lighthouse keeper wrote the log."}) + "\n")
write("dataset", "plain.txt", "Day 1. Wind from the west.\nDay 2. Calm; the lamp was cleaned.\n")

# A byte-level BPE tokenizer.json: the 256 byte tokens, a few merges, an added special token, the Digits sequence.
def byte_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


g = byte_to_unicode()
vocab = {g[b]: b + 1 for b in range(256)}
vocab[g[32] + "t"] = 257
vocab[g[32] + "th"] = 258
vocab[g[32] + "the"] = 259
write("tokenizer", "tokenizer.json", json.dumps({
    "version": "1.0",
    "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": True}],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}]},
    "model": {"type": "BPE", "vocab": vocab, "merges": [g[32] + " t", g[32] + "t h", g[32] + "th e"]},
}))

# Run files: the README's example, axolotl's dataset list and bitsandbytes keys, aliases, every kind of value.
write("yaml", "readme.yaml", """base_model: smollm2
datasets: sample-data/tags-train.jsonl
eval_dataset: sample-data/tags-eval.jsonl
lora_r: 16
lora_alpha: 32
lora_target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
load_in_4bit: true
bnb_4bit_use_double_quant: true
gradient_checkpointing: true
learning_rate: 2.0e-4
micro_batch_size: 4
sequence_len: 128
max_steps: 300
""")
write("yaml", "axolotl.yaml", """base_model: ./models/llama
datasets:
  - path: data/train.jsonl
    type: chat_template
val_set_size: 0.05
lora_r: 8
lora_dropout: 0.05
target_modules:
  - model.layers.0.self_attn.q_proj
  - v_proj
load_in_8bit: true
lr_scheduler: cosine
warmup_steps: 10
weight_decay: 0.0
max_grad_norm: 1.0
gradient_accumulation_steps: 2
num_epochs: 1.5
eval_steps: 50
save_steps: 100
save_total_limit: 2
output_dir: out
seed: 42
""")
write("yaml", "aliases.yaml", """model: smollm2
data: a.txt
r: 4
lr: 1e-3
batch_size: 2
seq_len: 64
epochs: 2
quant: nf4
quant_block_size: 64
compute: fp32
use_rslora: yes
threads: 2
fps: 10
theme: gruvbox
metrics: m.jsonl
resume_from_checkpoint: out/checkpoint-100
inspect_steps: 25
sample_steps: 0
""")

# What a viewer sends a run: greeting, attach, commands (good and bad), ping, an unknown type, detach.
write("protocol", "viewer.jsonl", "\n".join(json.dumps(m) for m in [
    {"type": "hello", "protocol": 1, "client": "loratop attach"},
    {"type": "attach", "read_only": False, "points": 2000, "client": "tui"},
    {"type": "command", "id": "1", "line": "lr 1e-4"},
    {"type": "command", "id": "2", "line": "rank 16"},
    {"type": "command", "id": "3", "line": "alpha 1e30"},
    {"type": "command", "id": "4", "line": "stop nosave"},
    {"type": "ping", "id": "p"},
    {"type": "resize", "cols": 80},
    {"type": "detach"},
]) + "\n")
