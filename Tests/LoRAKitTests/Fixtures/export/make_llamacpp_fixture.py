"""llama.cpp fixture for loratop's GGUF exports: greedy token ids from llama-cpp-python (CPU, 2 threads, no network).

Needs the outputs of `LORATOP_WRITE_FIXTURES=1 swift test ... --filter ExportFixtureWriter` in /tmp/loratop-export:
adapter.gguf (loratop's llama.cpp LoRA adapter, all seven targets, rsLoRA), base-f32.gguf (the sample's weights written
by loratop as F32, no adapter) and merged.gguf (the base with the adapter fused, F32). For each prompt in prompts.json
(token ids, no BOS added) it records 40 greedy tokens from
  base_q4      the sample Q4_1 GGUF alone,
  adapter_q4   the sample Q4_1 GGUF + adapter.gguf (lora_path),
  base_f32     base-f32.gguf alone,
  adapter_f32  base-f32.gguf + adapter.gguf,
  merged       merged.gguf alone.
(On Q4_1 weights llama.cpp quantizes activations to 8 bits, so near-ties can flip; the F32 runs are exact references.)
-> llamacpp_tokens.json

Run: /root/.cache/llamacpp-venv/bin/python make_llamacpp_fixture.py [SAMPLE_GGUF]
(or any Python with llama_cpp importable, e.g. the package from the llama-cpp-python source with LLAMA_CPP_LIB_PATH
pointing at its built libllama.so)
"""
import json, os, sys
from llama_cpp import Llama

here = os.path.dirname(os.path.abspath(__file__))
tmp = "/tmp/loratop-export"
gguf = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/loratop/SmolLM2-135M-Instruct.Q4_1.gguf")
N = 40


def greedy(llm, ids):
    llm.reset()
    out = []
    for tok in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
        out.append(int(tok))
        if len(out) == N:
            break
    return out


def load(path, lora=None):
    return Llama(model_path=path, lora_path=lora, n_ctx=256, n_threads=2, n_threads_batch=2, n_gpu_layers=0,
                 seed=0, verbose=False, logits_all=False)


prompts = json.load(open(os.path.join(here, "prompts.json")))["prompts"]
runs = [{"ids": p["ids"], "n": N} for p in prompts]
lora_file = os.path.join(tmp, "adapter.gguf")
f32 = os.path.join(tmp, "base-f32.gguf")
for key, (path, lora) in {"base_q4": (gguf, None), "adapter_q4": (gguf, lora_file), "base_f32": (f32, None),
                          "adapter_f32": (f32, lora_file), "merged": (os.path.join(tmp, "merged.gguf"), None)}.items():
    llm = load(path, lora)
    for r in runs:
        r[key] = greedy(llm, r["ids"])
    del llm
    print(key, "done")
import llama_cpp
json.dump({"llama_cpp_python": llama_cpp.__version__, "prompts": runs}, open(os.path.join(here, "llamacpp_tokens.json"), "w"), indent=1)
print("wrote llamacpp_tokens.json")
