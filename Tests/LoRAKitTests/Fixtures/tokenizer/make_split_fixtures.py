"""Byte-level BPE tokenizers with Llama 3's and Qwen2's pre-tokenizer (issue 14), and their ids on the corpus.

Both families' tokenizer.json is `Sequence[Split(regex, Isolated), ByteLevel(use_regex=False)]` with a byte-level BPE
model; only the regex differs (Llama 3 groups numbers by up to three, Qwen2 / Qwen2.5 / Qwen3 one by one). The real
files are large (and Llama's gated), so this trains a small BPE of each kind with `tokenizers` on the committed corpus
(corpus.json) with exactly the families' pre-tokenizer, and records the ids `tokenizers` gives every corpus item.

Run: ~/.cache/loratop/pyenv/bin/python make_split_fixtures.py   (tokenizers from transformers 5.24)
-> llama3_tokenizer.json, qwen2_tokenizer.json, split_expected.json
"""
import json, os
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers

here = os.path.dirname(os.path.abspath(__file__))
items = json.load(open(os.path.join(here, "corpus.json")))["items"]
patterns = {
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
expected = {}
for name, pattern in patterns.items():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator(items, trainer=trainer)
    path = os.path.join(here, f"{name}_tokenizer.json")
    tok.save(path)
    expected[name] = {"ids": [tok.encode(t, add_special_tokens=False).ids for t in items]}
    print(name, tok.get_vocab_size(), "tokens,", sum(len(x) for x in expected[name]["ids"]), "ids over", len(items), "items")
json.dump(expected, open(os.path.join(here, "split_expected.json"), "w"))
