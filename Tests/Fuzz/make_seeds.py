#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Sources/loratop-fuzz) that are not copies of test fixtures.

The gguf and safetensors seeds are the format fixtures themselves (`seeds` in .ci/fuzz). Copied by hand, once:
theme/ from themes/{default,gruvbox}.theme, peft-config/ from the fixtures'
adapter_config.json files, trainer-state/ from a checkpoint of the sample run. Usage: python3 Tests/Fuzz/make_seeds.py
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
