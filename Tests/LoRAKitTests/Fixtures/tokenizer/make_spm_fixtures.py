"""SentencePiece-style vocabularies (issue 14): Gemma's, as a GGUF file (llama.cpp's `llama` tokenizer model: tokens,
scores, token types) and as Hugging Face's tokenizer.json (BPE with byte fallback, ' ' -> '▁'), with the ids the
reference tokenizers give every item of the committed corpus (corpus.json).

The real vocabularies are large (and gated), so this trains a small one of the same kind with sentencepiece on the
corpus: BPE, byte fallback, whitespace kept as pieces (no dummy prefix, no whitespace split, identity normalization),
Gemma's special ids (pad 0, eos 1, bos 2, unk 3) and two user-defined chat tokens.

  1. ~/.cache/loratop/pyenv/bin/python make_spm_fixtures.py build
     (sentencepiece 0.2, tokenizers from transformers 5.24, torch; LLAMA_CPP=<llama.cpp source tree>, e.g.
     vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist)
     -> spm_gemma.gguf: a one-layer Gemma 2 of width 8 with this vocabulary, converted by llama.cpp's
        convert_hf_to_gguf.py (which writes the tokenizer as llama.cpp reads it)
     -> spm_gemma_tokenizer.json: the same vocabulary for `tokenizers` (merges from the pieces' scores, as
        transformers' SentencePieceExtractor derives them), and its ids on the corpus in spm_expected.json["hf"]
     -> spm_llama.gguf: Llama 2's kind (dummy prefix: GGUF add_space_prefix true), a minimal LlamaForCausalLM
        converted the same way
  2. /root/.cache/llamacpp-venv/bin/python make_spm_fixtures.py llamacpp   (llama-cpp-python 0.3.36)
     -> spm_expected.json["gguf"], ["gguf_llama"]: llama.cpp's ids (tokenize(text, add_bos=False, special=True))
        on the corpus
"""
import json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
items = json.load(open(os.path.join(here, "corpus.json")))["items"]
tmp = "/tmp/loratop-spm"
expected_path = os.path.join(here, "spm_expected.json")


def build():
    import sentencepiece as spm
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, decoders, AddedToken
    from transformers import Gemma2Config, Gemma2ForCausalLM
    os.makedirs(tmp, exist_ok=True)
    with open(tmp + "/corpus.txt", "w") as f:
        for t in items:
            f.write(t.replace("\n", " ") + "\n")
    spm.SentencePieceTrainer.train(
        input=tmp + "/corpus.txt", model_prefix=tmp + "/tokenizer", vocab_size=1500, model_type="bpe",
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, byte_fallback=True, add_dummy_prefix=False, split_by_whitespace=False,
        remove_extra_whitespaces=False, normalization_rule_name="identity", allow_whitespace_only_pieces=True,
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"], character_coverage=0.9995, num_threads=1,
        minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=tmp + "/tokenizer.model")
    n = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(n)]

    # tokenizer.json: byte-fallback BPE whose merges follow the merged pieces' scores (highest first)
    vocab = {p: i for i, p in enumerate(pieces)}
    special = {i for i in range(n) if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i)} | {4, 5}
    order = sorted((i for i in range(n) if i not in special), key=lambda i: -sp.get_score(i))
    merges = []
    for i in order:
        p = pieces[i]
        local = [(p[:k], p[k:]) for k in range(1, len(p)) if p[:k] in vocab and p[k:] in vocab]
        merges += sorted(local, key=lambda ab: (vocab[ab[0]], vocab[ab[1]]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(pieces[i], special=True, normalized=False) for i in (0, 1, 2, 3)])
    tok.add_tokens([AddedToken(pieces[i], special=False, normalized=False) for i in (4, 5)])
    tok.save(os.path.join(here, "spm_gemma_tokenizer.json"))
    hf = [tok.encode(t, add_special_tokens=False).ids for t in items]

    # the GGUF: llama.cpp's converter on a minimal Gemma 2 with this tokenizer.model
    llama_cpp = os.environ.get("LLAMA_CPP")
    if not llama_cpp:
        sys.exit("set LLAMA_CPP to a llama.cpp source tree (convert_hf_to_gguf.py and gguf-py)")
    cfg = Gemma2Config(vocab_size=n, hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1,
                       num_key_value_heads=1, head_dim=8, max_position_embeddings=64, query_pre_attn_scalar=8,
                       sliding_window=16)
    torch.manual_seed(0)
    Gemma2ForCausalLM(cfg).save_pretrained(tmp + "/hf", safe_serialization=True)
    os.replace(tmp + "/tokenizer.model", tmp + "/hf/tokenizer.model")
    subprocess.run([sys.executable, os.path.join(llama_cpp, "convert_hf_to_gguf.py"), tmp + "/hf", "--outtype", "f32",
                    "--outfile", os.path.join(here, "spm_gemma.gguf")], check=True,
                   env={**os.environ, "PYTHONPATH": os.path.join(llama_cpp, "gguf-py")})
    # Llama 2's kind as well: a dummy prefix (GGUF add_space_prefix), whitespace splitting, through llama.cpp's
    # LLaMA converter on a minimal LlamaForCausalLM
    from transformers import LlamaConfig, LlamaForCausalLM
    spm.SentencePieceTrainer.train(
        input=tmp + "/corpus.txt", model_prefix=tmp + "/llama", vocab_size=1200, model_type="bpe",
        pad_id=-1, eos_id=2, bos_id=1, unk_id=0, byte_fallback=True, add_dummy_prefix=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", character_coverage=0.9995, num_threads=1,
        minloglevel=2)
    n2 = spm.SentencePieceProcessor(model_file=tmp + "/llama.model").get_piece_size()
    LlamaForCausalLM(LlamaConfig(vocab_size=n2, hidden_size=8, intermediate_size=8, num_hidden_layers=1,
                                 num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=64)).save_pretrained(
        tmp + "/llama-hf", safe_serialization=True)
    os.replace(tmp + "/llama.model", tmp + "/llama-hf/tokenizer.model")
    subprocess.run([sys.executable, os.path.join(llama_cpp, "convert_hf_to_gguf.py"), tmp + "/llama-hf", "--outtype",
                    "f32", "--outfile", os.path.join(here, "spm_llama.gguf")], check=True,
                   env={**os.environ, "PYTHONPATH": os.path.join(llama_cpp, "gguf-py")})
    old = json.load(open(expected_path)) if os.path.exists(expected_path) else {}
    json.dump({"hf": hf, "gguf": old.get("gguf"), "gguf_llama": old.get("gguf_llama")}, open(expected_path, "w"))
    print("vocabulary", n, "pieces,", len(merges), "merges,", sum(len(x) for x in hf), "ids (tokenizers)")


def llamacpp():
    import llama_cpp
    from llama_cpp import Llama
    out = json.load(open(expected_path))
    for key, name in (("gguf", "spm_gemma.gguf"), ("gguf_llama", "spm_llama.gguf")):
        llm = Llama(model_path=os.path.join(here, name), vocab_only=True, verbose=False)
        out[key] = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=True) for t in items]
        print(name, sum(len(x) for x in out[key]), "ids (llama.cpp)")
    out["llama_cpp_python"] = llama_cpp.__version__
    json.dump(out, open(expected_path, "w"))


if __name__ == "__main__":
    {"build": build, "llamacpp": llamacpp}[sys.argv[1] if len(sys.argv) > 1 else "build"]()
