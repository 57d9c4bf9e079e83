#!/usr/bin/env python3
"""Makes the tokenizer fixtures for LoRAKitTests (DataTokenizer*, DataChat* tests).

Run with the reference venv (transformers, tokenizers, gguf-py):
    ~/.cache/loratop-ref/venv/bin/python Tests/LoRAKitTests/Fixtures/tokenizer/make_tokenizer_fixtures.py

Inputs: ~/.cache/loratop-ref/models/SmolLM2-135M-Instruct.Q4_1.gguf and its HF folder smollm2-135m-hf.
Outputs (next to this script):
  tokenizer.json   the HF folder's tokenizer.json, minified (same content)
  corpus.json      {"items": [...]} >= 2000 varied strings (seeded; may hold newlines, tabs, special tokens)
  expected.json    ids per item from three references:
                     gguf_transformers  AutoTokenizer.from_pretrained(dir, gguf_file=...), add_special_tokens=False
                     hf_tokenizer_json  AutoTokenizer from the HF folder (tokenizer.json), add_special_tokens=False
                     smollm_digits      tokenizers with Sequence[Digits(individual), ByteLevel] (the original SmolLM2
                                        pre-tokenizer; what llama.cpp does for tokenizer.ggml.pre = "smollm")
                   plus facts checked against the GGUF metadata.
  chat.json        conversations rendered by apply_chat_template (with and without add_generation_prompt),
                   their ids, and the assistant-only training mask computed from offsets.
"""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.expanduser("~/.cache/loratop-ref/models")
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
HF = os.path.join(MODELS, "smollm2-135m-hf")

rng = random.Random(20240611)

WORDS = ("the quick brown fox jumps over lazy dog model train loss rank alpha learning rate token batch "
         "river stone window garden yellow quiet ancient signal harbor lantern north winter copper "
         "Hello World Swift Linux terminal adapter gradient epoch matrix vector").split()
CONTRACTIONS = ["it's", "don't", "we're", "they've", "I'm", "you'll", "she'd", "IT'S", "Don'T", "'s", "'tis",
                "rock'n'roll", "o'clock", "y'all", "'ll", "''", "'re'", "x'd"]
ACCENTED = ["café", "naïve", "résumé", "Ångström", "façade", "jalapeño", "Zürich", "São Paulo", "Œuvre", "déjà vu",
            "e\u0301cole", "n\u0303", "Ελληνικά", "Привет мир", "Dziękuję", "İstanbul", "ß straße", "ǅemal"]
CJK = ["中文测试", "日本語のテキスト", "한국어 문장", "漢字かなカナ", "你好，世界！", "東京タワー 333m", "这是一个句子。",
       "ひらがな", "カタカナ", "테스트"]
OTHER_SCRIPTS = ["مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ", "ქართული", "Հայերեն", "ᚠᚢᚦᚨᚱᚲ",
                 "٣٤٥ عربي", "१२३ हिंदी", "１２３ｆｕｌｌ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𝟙𝟚𝟛"]
EMOJI = ["🙂", "👍🏽", "👩‍💻", "🇫🇷", "❤️", "🚀🚀", "🤖 robot", "😀😃😄", "🧪", "✨ sparkle", "🏳️‍🌈", "1️⃣", "©®™"]
NUMBERS = ["42", "3.14159", "1,000,000", "-17", "+3", "0x1F", "1e-5", "2024-06-11", "12:30:45", "v1.2.3",
           "½", "x²", "Ⅻ", "③", "100%", "$5.99", "€20", "007", "1234567890", "  12", "a   123", "\t99",
           "7th", "3rd", "2nd", "10k", "9 9 9", "4\n5"]
SPACES = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009",
          "\u0085", "\u2028", "\u200b", "\ufeff", "\x0b", "\x0c", " \t "]
SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<file_sep>", "<repo_name>", "<jupyter_code>",
            "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n", "<|im_", "im_end|>", "<|IM_END|>"]
CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "let y = try? JSONDecoder().decode(T.self, from: data)",
    "if x != nil && y >= 3 || z <= -1 {",
    "    print(\"hello, world\")  # comment",
    "SELECT name, COUNT(*) FROM users WHERE age > 30 GROUP BY name;",
    "#include <stdio.h>\nint main(void) { return 0; }",
    "const re = /^[a-z]+\\d*$/gi;",
    "x = {'a': [1, 2, 3], \"b\": None}",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "ls -la | grep '.swift' > out.txt 2>&1",
    "<div class=\"row\">&nbsp;</div>",
    "a+=b;c-=d;e*=f;g/=h;",
    "    \tindent mixed\t   ",
    "$ swift build -c release -Xswiftc -enable-testing",
    "https://example.com/path?q=1&r=two#frag",
    "user@example.org",
    "C:\\Users\\name\\file.txt",
    "~~~ *** --- ___ ...",
    "(((nested)))[[[]]]{{{}}}",
]
PUNCT = [".", ",", "!", "?", "...", ";", ":", " - ", " — ", "–", "\"", "'", "(", ")", "«»", "¿", "¡", "…", "·"]


def pick(xs):
    return xs[rng.randrange(len(xs))]


def sentence(n=None):
    n = n or rng.randint(3, 12)
    ws = [pick(WORDS) for _ in range(n)]
    if rng.random() < 0.5:
        ws[0] = ws[0].capitalize()
    return " ".join(ws) + pick([".", "!", "?", "", ","])


def mixed():
    parts = []
    for _ in range(rng.randint(2, 8)):
        kind = rng.randrange(10)
        if kind == 0:
            parts.append(sentence())
        elif kind == 1:
            parts.append(pick(CONTRACTIONS))
        elif kind == 2:
            parts.append(pick(ACCENTED))
        elif kind == 3:
            parts.append(pick(CJK))
        elif kind == 4:
            parts.append(pick(OTHER_SCRIPTS))
        elif kind == 5:
            parts.append(pick(EMOJI))
        elif kind == 6:
            parts.append(pick(NUMBERS))
        elif kind == 7:
            parts.append(pick(SPECIALS))
        elif kind == 8:
            parts.append(pick(CODE))
        else:
            parts.append(pick(PUNCT))
        parts.append(pick(SPACES) if rng.random() < 0.4 else (" " if rng.random() < 0.8 else ""))
    return "".join(parts)


def corpus():
    items = []
    # Every atom alone, and with spaces around it, so each edge case is seen in isolation.
    for group in (WORDS, CONTRACTIONS, ACCENTED, CJK, OTHER_SCRIPTS, EMOJI, NUMBERS, SPACES, SPECIALS, CODE, PUNCT):
        for atom in group:
            items.append(atom)
            items.append(" " + atom + " ")
            items.append("x" + atom + "  y")
    # Whitespace runs before/after words, digits and punctuation (the \s+(?!\S) lookahead cases).
    for ws in SPACES:
        for tail in ["word", "12", "!", "中", "🙂", "<|im_end|>", ""]:
            items.append("a" + ws + tail)
            items.append(ws + tail + ws)
    for _ in range(1200):
        items.append(mixed())
    for _ in range(300):
        items.append(sentence(rng.randint(8, 30)) + pick(["", " ", "  ", "\n", " \n"]))
    for _ in range(200):
        items.append("\n".join(pick(CODE) for _ in range(rng.randint(1, 4))))
    items.append("")
    return items


def main():
    from transformers import AutoTokenizer
    from tokenizers import Tokenizer, pre_tokenizers

    items = corpus()
    assert len(items) >= 2000, len(items)
    tg = AutoTokenizer.from_pretrained(MODELS, gguf_file=GGUF)
    th = AutoTokenizer.from_pretrained(HF)
    raw = Tokenizer.from_file(os.path.join(HF, "tokenizer.json"))
    raw.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])

    ids_g = [tg.encode(s, add_special_tokens=False) for s in items]
    ids_h = [th.encode(s, add_special_tokens=False) for s in items]
    ids_d = [raw.encode(s, add_special_tokens=False).ids for s in items]
    decoded_ok = sum(tg.decode(i, skip_special_tokens=False) == s for i, s in zip(ids_g, items))

    # Compare the GGUF metadata with tokenizer.json.
    import gguf
    r = gguf.GGUFReader(os.path.join(MODELS, GGUF))
    g_tokens = r.fields["tokenizer.ggml.tokens"].contents()
    g_merges = r.fields["tokenizer.ggml.merges"].contents()
    g_types = r.fields["tokenizer.ggml.token_type"].contents()
    tj = json.load(open(os.path.join(HF, "tokenizer.json"), encoding="utf-8"))
    vocab = sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1])
    tj_tokens = [k for k, _ in vocab]
    tj_merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]

    expected = {
        "gguf_transformers": ids_g,
        "hf_tokenizer_json_agrees_with_gguf": ids_h == ids_g,
        "hf_tokenizer_json": ids_h if ids_h != ids_g else None,
        "smollm_digits": ids_d,
        "smollm_digits_differs_on": sum(a != b for a, b in zip(ids_g, ids_d)),
        "decode_roundtrip_ok": decoded_ok,
        "gguf_tokens_equal_tokenizer_json": g_tokens == tj_tokens,
        "gguf_merges_equal_tokenizer_json": g_merges == tj_merges,
        "gguf_non_normal_token_types": {str(i): int(t) for i, t in enumerate(g_types) if t != 1},
        "gguf_pre": r.fields["tokenizer.ggml.pre"].contents(),
        "vocab_size": len(g_tokens),
        "merge_count": len(g_merges),
    }

    # Chat template fixtures.
    convs = [
        [{"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
        [{"role": "system", "content": "You answer tersely."}, {"role": "user", "content": "Name a colour."},
         {"role": "assistant", "content": "Blue."}],
        [{"role": "user", "content": "Tell me a joke"}, {"role": "assistant", "content": "  Why did the\nchicken cross?  "},
         {"role": "user", "content": "Why?"}, {"role": "assistant", "content": "To get to the other side. 🐔"}],
        [{"role": "user", "content": "Make a loratop tag for: quiet river stone"},
         {"role": "assistant", "content": "LT-QUIET-RIVER-STONE"}],
        [{"role": "user", "content": "Résumé en français, s'il te plaît.\n\n\tMerci"},
         {"role": "assistant", "content": "\nD'accord: voilà 12 mots   "}],
        [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
    ]
    chats = []
    for msgs in convs:
        for gen in (False, True):
            text = tg.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
            ids = tg.encode(text, add_special_tokens=False)
            ids_t = tg.apply_chat_template(msgs, tokenize=True, add_generation_prompt=gen)
            if isinstance(ids_t, dict) or hasattr(ids_t, "keys"):
                ids_t = ids_t["input_ids"]
            assert list(ids_t) == ids, "apply_chat_template(tokenize=True) differs from encode(text)"
            # Assistant-only mask: a token is trained when its character span overlaps an assistant message's
            # content or that message's closing <|im_end|>.
            spans = []
            pos = 0
            for m in msgs:
                head = "<|im_start|>" + m["role"] + "\n"
                start = text.index(head, pos) + len(head)
                end = start + len(m["content"])
                assert text[end:end + len("<|im_end|>")] == "<|im_end|>"
                if m["role"] == "assistant":
                    spans.append((start, end + len("<|im_end|>")))
                pos = end
            offs = tg(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            mask = [int(any(a < e and s < b for s, e in spans)) for a, b in offs]
            chats.append({"messages": msgs, "add_generation_prompt": gen, "text": text, "ids": ids, "trained": mask})

    with open(os.path.join(HERE, "corpus.json"), "w", encoding="utf-8") as f:
        # ASCII escapes: Foundation's JSONSerialization drops a raw U+FEFF inside strings, escaped ones survive.
        json.dump({"items": items}, f, ensure_ascii=True)
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, separators=(",", ":"))
    with open(os.path.join(HERE, "chat.json"), "w", encoding="utf-8") as f:
        json.dump({"chat_template": tg.chat_template, "conversations": chats}, f, ensure_ascii=True, indent=1)
    with open(os.path.join(HERE, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
    summary = {k: v for k, v in expected.items() if not isinstance(v, (list, dict)) or k == "gguf_non_normal_token_types"}
    print(json.dumps(summary, ensure_ascii=False))
    print("items", len(items), "chat cases", len(chats))


if __name__ == "__main__":
    sys.exit(main())
