"""Gemma and Phi-3 GGUF fixtures (issue 14): tiny random Gemma 2, Gemma 3 and Phi-3 models converted by llama.cpp's own
converter, and what transformers, PEFT and llama.cpp compute with them (Phi-3: fused attn_qkv and ffn_up, no window,
as llama.cpp runs it; PEFT on qkv_proj, o_proj, gate_up_proj, down_proj).

The models differ from make_gemma_fixture.py's in what GGUF cannot say, so that transformers and llama.cpp describe the
same function: query_pre_attn_scalar = head_dim (llama.cpp derives the query scale from head_dim) and the default
layer patterns (Gemma 2 alternates from a sliding first layer; Gemma 3's six layers are five sliding and one full).
Both keep a window of 6, Gemma 2's soft-caps (5 and 8) and Gemma 3's q/k norms and two RoPE bases. Each gets a
SentencePiece tokenizer.model (trained here on sample-data/logbook.txt, padded by the converter to the 96 ids), which
llama.cpp's converter requires.

  1. ~/.cache/loratop/pyenv/bin/python make_gemma_gguf_fixture.py models
     (transformers 5.24, peft 0.21.2, torch 2.13 CPU, sentencepiece, and llama.cpp's converter: LLAMA_CPP=<a llama.cpp
     source tree, e.g. vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist>)
     -> tiny-NAME-gguf/ (model.gguf F32 from convert_hf_to_gguf.py, expected.json: transformers' logits and greedy
        continuations of three prompts, and PEFT's greedy continuations with tiny-NAME-gguf/peft attached)
  2. LORATOP_WRITE_FIXTURES=1 swift test ... --filter GemmaGGUFFixtureWriter
     -> tiny-NAME-gguf/loratop-adapter.gguf (that PEFT adapter exported by loratop as a llama.cpp LoRA adapter)
  3. /root/.cache/llamacpp-venv/bin/python make_gemma_gguf_fixture.py llamacpp   (llama-cpp-python 0.3.36)
     -> tiny-NAME-gguf/llamacpp.json: llama.cpp's greedy continuations of the prompts on model.gguf alone and with
        loratop's adapter
"""
import json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
V = 96
NAMES = ("gemma2", "gemma3", "phi3")


def models():
    import torch
    import sentencepiece as spm
    from transformers import Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig, Gemma3ForCausalLM, Phi3Config, Phi3ForCausalLM
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
    }
    # (class, config, seed, factor on the initial matrices, scale of PEFT's B): Gemma 2's pair keeps its greedy
    # continuations from collapsing onto one token and lets the adapter change every one of them
    for name, (cls, cfg, seed, gain, b_scale) in configs.items():
        d = os.path.join(here, f"tiny-{name}-gguf")
        hf = f"/tmp/loratop-gemma/{name}-hf"
        os.makedirs(d, exist_ok=True)
        os.makedirs(hf, exist_ok=True)
        torch.manual_seed(seed)
        m = cls(cfg).eval()
        perturb(m, gain)
        m.save_pretrained(hf, safe_serialization=True)
        # Phi-3's ids, and the <|endoftext|> llama.cpp's vocabulary code looks up for a phi3 model
        ids = (dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3) if name != "phi3"
               else dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3, user_defined_symbols=["<|endoftext|>"]))
        spm.SentencePieceTrainer.train(input=text, model_prefix=hf + "/tokenizer", vocab_size=80, model_type="bpe",
                                       character_coverage=1.0, byte_fallback=False, num_threads=1, minloglevel=2, **ids)
        os.remove(hf + "/tokenizer.vocab")
        subprocess.run([sys.executable, os.path.join(llama_cpp, "convert_hf_to_gguf.py"), hf, "--outtype", "f32",
                        "--outfile", os.path.join(d, "model.gguf")], check=True,
                       env={**os.environ, "PYTHONPATH": os.path.join(llama_cpp, "gguf-py")})
        cases, _ = prompts(m, V, low=4)
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

    for name in NAMES:
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
