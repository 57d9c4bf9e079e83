"""GGUF fixtures (issue 14): tiny random Gemma 2, Gemma 3, Phi-3, Llama 3.x and Qwen3 models converted by llama.cpp's
own converter, and what transformers, PEFT and llama.cpp compute with them (Phi-3: fused attn_qkv and ffn_up, no window,
as llama.cpp runs it; PEFT on qkv_proj, o_proj, gate_up_proj, down_proj; the others on all seven projections).

The models differ from make_gemma_fixture.py's in what GGUF cannot say, so that transformers and llama.cpp describe the
same function: query_pre_attn_scalar = head_dim (llama.cpp derives the query scale from head_dim) and the default
layer patterns (Gemma 2 alternates from a sliding first layer; Gemma 3's six layers are five sliding and one full).
Both keep a window of 6, Gemma 2's soft-caps (5 and 8) and Gemma 3's q/k norms and two RoPE bases. The Llama 3 model
has the `llama3` RoPE scaling with all three bands in use (as make_rope_scaling_fixture.py's; the converter writes it
as rope_freqs.weight) and a tied head; the Qwen3 model has its q/k norms and head_dim 24 != hidden / heads.

Each gets the tokenizer its family has, trained here on sample-data/logbook.txt, which llama.cpp's converter requires:
Gemma and Phi-3 a SentencePiece tokenizer.model (padded by the converter to the 96 ids); Llama 3 and Qwen3 a byte-level
BPE tokenizer.json with the family's pre-tokenizer regex and special tokens (Llama 3's header and <|eot_id|> tokens,
Qwen's <|im_start|> / <|im_end|>), 320 ids. The converter names a BPE pre-tokenizer by hashing the ids the real
model's vocabulary gives a test text, which no small vocabulary reproduces, so the pre-tokenizer llama.cpp is to use
(`llama-bpe`, `qwen2`) is given to it: its get_vocab_base_pre answers that name; everything else is the converter's.

  1. ~/.cache/loratop/pyenv/bin/python make_gguf_fixtures.py models [NAME ...]
     (transformers 5.24, peft 0.21.2, torch 2.13 CPU, sentencepiece, and llama.cpp's converter: LLAMA_CPP=<a llama.cpp
     source tree, e.g. vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist>)
     -> tiny-NAME-gguf/ (model.gguf F32 from convert_hf_to_gguf.py, expected.json: transformers' logits and greedy
        continuations of three prompts, and PEFT's greedy continuations with tiny-NAME-gguf/peft attached)
  2. LORATOP_WRITE_FIXTURES=1 swift test ... --filter GGUFFamilyFixtureWriter
     -> tiny-NAME-gguf/loratop-adapter.gguf (that PEFT adapter exported by loratop as a llama.cpp LoRA adapter)
  3. /root/.cache/llamacpp-venv/bin/python make_gguf_fixtures.py llamacpp [NAME ...]   (llama-cpp-python 0.3.36)
     -> tiny-NAME-gguf/llamacpp.json: llama.cpp's greedy continuations of the prompts on model.gguf alone and with
        loratop's adapter
Without NAMEs a step does every family.
"""
import json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
V = 96
NAMES = ("gemma2", "gemma3", "phi3", "llama3", "qwen3")
BPE_V = 320
# the pre-tokenizer regexes of Llama 3 and of Qwen2 / Qwen2.5 / Qwen3 (tokenizer/make_split_fixtures.py), their
# special tokens, and llama.cpp's name for the pre-tokenizer
BPE = {
    "llama3": (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
               ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
               "<|begin_of_text|>", "<|end_of_text|>", "llama-bpe"),
    "qwen3": (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
              ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", "qwen2"),
}


def selected():
    names = sys.argv[2:] or list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        sys.exit(f"unknown family {unknown}; expected some of {NAMES}")
    return names


def bpe_tokenizer(name, text, out):
    """A byte-level BPE of BPE_V ids with the family's pre-tokenizer and special tokens, saved as tokenizer.json and
    tokenizer_config.json in `out`."""
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers, processors
    from transformers import PreTrainedTokenizerFast
    pattern, specials, bos, eos, _ = BPE[name]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_V, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=specials, show_progress=False)
    tok.train_from_iterator(open(text).read().splitlines(), trainer=trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos).save_pretrained(out)


def convert(llama_cpp, hf, out, pre):
    """llama.cpp's convert_hf_to_gguf.py on `hf` (F32), told the BPE pre-tokenizer `pre` when there is one."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([llama_cpp, os.path.join(llama_cpp, "gguf-py")])}
    args = [hf, "--outtype", "f32", "--outfile", out]
    script = os.path.join(llama_cpp, "convert_hf_to_gguf.py")
    if pre is None:
        subprocess.run([sys.executable, script, *args], check=True, env=env)
        return
    run = ("import runpy, sys\n"
           "from conversion import base\n"
           f"base.TextModel.get_vocab_base_pre = lambda self, tokenizer: {pre!r}\n"
           f"sys.argv = [{script!r}] + {args!r}\n"
           f"runpy.run_path({script!r}, run_name='__main__')\n")
    subprocess.run([sys.executable, "-c", run], check=True, env=env)


def models():
    import torch
    import sentencepiece as spm
    from transformers import (Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig, Gemma3ForCausalLM, Phi3Config,
                              Phi3ForCausalLM, LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM)
    from tiny_parity import perturb, prompts, peft_model
    torch.set_num_threads(2)
    llama_cpp = os.environ.get("LLAMA_CPP")
    if not llama_cpp:
        sys.exit("set LLAMA_CPP to a llama.cpp source tree (convert_hf_to_gguf.py and gguf-py)")
    text = os.path.join(here, "..", "..", "..", "..", "sample-data", "logbook.txt")
    configs = {
        "gemma2": (Gemma2ForCausalLM, Gemma2Config(
            vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
            tie_word_embeddings=True, query_pre_attn_scalar=24, sliding_window=6, attn_logit_softcapping=5.0,
            final_logit_softcapping=8.0, hidden_activation="gelu_pytorch_tanh", attn_implementation="eager"), 23, 4.0, 0.5),
        "gemma3": (Gemma3ForCausalLM, Gemma3TextConfig(
            vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=6, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-6,
            tie_word_embeddings=True, query_pre_attn_scalar=16, sliding_window=6,
            rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                             "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
            hidden_activation="gelu_pytorch_tanh", attn_implementation="eager"), 29, 6.0, 0.3),
        # Phi-3 without a window: llama.cpp runs Phi-3 without its sliding window
        "phi3": (Phi3ForCausalLM, Phi3Config(
            vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, original_max_position_embeddings=128, rms_norm_eps=1e-5,
            rope_theta=10000.0, tie_word_embeddings=False, sliding_window=None, pad_token_id=0, bos_token_id=1,
            eos_token_id=2, attn_implementation="eager"), 31, 6.0, 0.3),
        # Llama 3.x: rope_scaling llama3 with all three bands in use (head width 16: wavelengths 6.3, 19.9, 62.8, ...
        # against an original context of 32), prompts and continuations running past it; tied head as Llama-3.2-1B's
        "llama3": (LlamaForCausalLM, LlamaConfig(
            vocab_size=BPE_V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, tie_word_embeddings=True,
            rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
            bos_token_id=0, eos_token_id=1, pad_token_id=None), 37, 6.0, 0.3),
        "qwen3": (Qwen3ForCausalLM, Qwen3Config(
            vocab_size=BPE_V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
            tie_word_embeddings=True, bos_token_id=None, eos_token_id=2, pad_token_id=0), 41, 6.0, 0.3),
    }
    # (class, config, seed, factor on the initial matrices, scale of PEFT's B): Gemma 2's pair keeps its greedy
    # continuations from collapsing onto one token and lets the adapter change every one of them
    for name in selected():
        cls, cfg, seed, gain, b_scale = configs[name]
        d = os.path.join(here, f"tiny-{name}-gguf")
        hf = f"/tmp/loratop-gemma/{name}-hf"
        os.makedirs(d, exist_ok=True)
        os.makedirs(hf, exist_ok=True)
        torch.manual_seed(seed)
        m = cls(cfg).eval()
        perturb(m, gain)
        m.save_pretrained(hf, safe_serialization=True)
        if name in BPE:
            bpe_tokenizer(name, text, hf)
        else:
            # Phi-3's ids, and the <|endoftext|> llama.cpp's vocabulary code looks up for a phi3 model
            ids = (dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3) if name != "phi3"
                   else dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3, user_defined_symbols=["<|endoftext|>"]))
            spm.SentencePieceTrainer.train(input=text, model_prefix=hf + "/tokenizer", vocab_size=80, model_type="bpe",
                                           character_coverage=1.0, byte_fallback=False, num_threads=1, minloglevel=2, **ids)
            os.remove(hf + "/tokenizer.vocab")
        convert(llama_cpp, hf, os.path.join(d, "model.gguf"), BPE[name][4] if name in BPE else None)
        cases, _ = prompts(m, cfg.vocab_size, low=4)
        modules = (["qkv_proj", "o_proj", "gate_up_proj", "down_proj"] if name == "phi3"
                   else ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        pm = peft_model(m, modules, b_seed=seed + 1, b_scale=b_scale)
        pm.save_pretrained(os.path.join(d, "peft"))
        for pr in cases:
            with torch.no_grad():
                ids = pr["ids"]
                pr["peft_greedy"] = pm.generate(input_ids=torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24,
                                                do_sample=False, eos_token_id=None, pad_token_id=0)[0, len(ids):].tolist()
        json.dump({"prompts": cases}, open(os.path.join(d, "expected.json"), "w"))
        print(name, "done:", sum(p.numel() for p in m.parameters()), "params")


def llamacpp():
    import llama_cpp
    from llama_cpp import Llama

    def greedy(llm, ids):
        llm.reset()
        out = []
        for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
            out.append(int(tok))
            if len(out) == 24:
                break
        return out

    for name in selected():
        d = os.path.join(here, f"tiny-{name}-gguf")
        prompts = json.load(open(os.path.join(d, "expected.json")))["prompts"]
        runs = [{"ids": p["ids"]} for p in prompts]
        for key, lora in (("base", None), ("adapter", os.path.join(d, "loratop-adapter.gguf"))):
            llm = Llama(model_path=os.path.join(d, "model.gguf"), lora_path=lora, n_ctx=128, n_threads=2,
                        n_threads_batch=2, n_gpu_layers=0, seed=0, verbose=False)
            for r in runs:
                r[key] = greedy(llm, r["ids"])
            del llm
        json.dump({"llama_cpp_python": llama_cpp.__version__, "prompts": runs}, open(os.path.join(d, "llamacpp.json"), "w"))
        print(name, "llama.cpp done")


if __name__ == "__main__":
    {"models": models, "llamacpp": llamacpp}[sys.argv[1] if len(sys.argv) > 1 else "models"]()
