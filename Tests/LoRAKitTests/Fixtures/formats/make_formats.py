"""Generates the fixtures for the Formats tests (run with the reference venv:
~/.cache/loratop-ref/venv/bin/python Tests/LoRAKitTests/Fixtures/formats/make_formats.py).

Outputs (all small, little-endian):
  blocks.gguf            raw random-but-valid blocks of every type loratop dequantizes, written by gguf-py
  blocks_<type>.f32.bin  gguf.quants.dequantize of each tensor (the oracle)
  written.gguf           metadata of every type (nested arrays too) + F32/F16/Q8_0 tensors made by gguf-py
                         from written_source.f32.bin; our GGUFWriter must produce the same bytes
  align64.gguf           general.alignment = 64, two tensors
  small.safetensors      F32/F16/BF16 + __metadata__ written by the safetensors library; values in small.json
  tiny-qwen2/            a sharded Qwen2 HF folder (config.json, 2 shards, index) and expected.json (sha256 of fp32)
  sample_expected.json   facts about the real sample GGUF and its HF float32 twin (sha256 of dequantized tensors,
                         first rows), used only when the sample model is present
"""
import hashlib, json, os, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)


def halfs(n, scale):
    return rng.uniform(-scale, scale, size=n).astype(np.float16).view(np.uint8).reshape(n, 2)


def random_blocks(qtype, rows, cols):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // bs
    b = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    if qtype in (T.Q4_0, T.Q8_0):
        b[:, 0:2] = halfs(nb, 0.1)
    elif qtype == T.Q4_1:
        b[:, 0:2] = halfs(nb, 0.1)
        b[:, 2:4] = halfs(nb, 1.0)
    elif qtype in (T.Q4_K, T.Q5_K):
        b[:, 0:2] = halfs(nb, 0.01)
        b[:, 2:4] = halfs(nb, 0.01)
    elif qtype == T.Q6_K:
        b[:, 208:210] = halfs(nb, 0.01)
    return b.reshape(rows, cols // bs * ts)


def write_blocks():
    w = gguf.GGUFWriter(os.path.join(HERE, "blocks.gguf"), "llama")
    rows, cols = 3, 512
    for qtype in (T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K):
        raw = random_blocks(qtype, rows, cols)
        w.add_tensor(qtype.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qtype)
        deq = gguf.quants.dequantize(raw, qtype).astype(np.float32)
        assert deq.shape == (rows, cols)
        deq.tofile(os.path.join(HERE, f"blocks_{qtype.name.lower()}.f32.bin"))
    f16 = rng.standard_normal((rows, cols)).astype(np.float16)
    f16.view(np.uint16)[0, :6] = [0x0000, 0x8000, 0x0001, 0x83ff, 0x7bff, 0x0400]  # zeros, subnormals, max, min normal
    w.add_tensor("f16", f16)
    gguf.quants.dequantize(f16.view(np.uint8), T.F16).astype(np.float32).reshape(rows, cols).tofile(os.path.join(HERE, "blocks_f16.f32.bin"))
    bf = (rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    bfb = bf.view(np.uint8)
    w.add_tensor("bf16", bfb, raw_shape=bfb.shape, raw_dtype=T.BF16)
    gguf.quants.dequantize(bfb, T.BF16).astype(np.float32).reshape(rows, cols).tofile(os.path.join(HERE, "blocks_bf16.f32.bin"))
    f32 = rng.standard_normal((rows, cols)).astype(np.float32)
    w.add_tensor("f32", f32)
    f32.tofile(os.path.join(HERE, "blocks_f32.f32.bin"))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


def write_written():
    src = rng.standard_normal(2 * 64 + 64 + 5).astype(np.float32)
    src[3] = 0.0
    src.tofile(os.path.join(HERE, "written_source.f32.bin"))
    w = gguf.GGUFWriter(os.path.join(HERE, "written.gguf"), "llama")
    w.add_uint8("t.u8", 200); w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000); w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000); w.add_int32("t.i32", -2000000000)
    w.add_uint64("t.u64", 2 ** 63 + 5); w.add_int64("t.i64", -(2 ** 62))
    w.add_float32("t.f32", 0.1); w.add_float64("t.f64", 0.1)
    w.add_bool("t.bool", True); w.add_string("t.str", "héllo, GGUF ✓")
    w.add_array("t.strs", ["a", "", "ccc"]); w.add_array("t.ints", [1, -2, 3])
    w.add_array("t.floats", [0.5, -1.25]); w.add_array("t.bools", [True, False])
    w.add_array("t.nested", [[1, 2], [3]])
    w.add_array("t.nested_strs", [["x"], ["y", "z"]])
    w.add_tensor("m.f32", src[:128].reshape(2, 64))
    w.add_tensor("m.f16", src[128:192].reshape(1, 64).astype(np.float16))
    q = gguf.quants.quantize(src[:128].reshape(2, 64), T.Q8_0)
    w.add_tensor("m.q8_0", q, raw_shape=q.shape, raw_dtype=T.Q8_0)
    w.add_tensor("v.f32", src[192:197])
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

    w = gguf.GGUFWriter(os.path.join(HERE, "align64.gguf"), "llama")
    w.add_custom_alignment(64)
    w.add_tensor("a", src[:5])
    w.add_tensor("b", src[5:69].reshape(2, 32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def write_safetensors():
    import torch
    from safetensors.torch import save_file
    t = {
        "w.f32": torch.randn(3, 4, generator=torch.Generator().manual_seed(1)),
        "w.f16": torch.randn(2, 5, generator=torch.Generator().manual_seed(2)).half(),
        "w.bf16": torch.randn(4, generator=torch.Generator().manual_seed(3)).bfloat16(),
    }
    save_file(t, os.path.join(HERE, "small.safetensors"), metadata={"format": "pt"})
    json.dump({k: {"shape": list(v.shape), "values": v.float().flatten().tolist()} for k, v in t.items()},
              open(os.path.join(HERE, "small.json"), "w"), indent=1)


def write_tiny_qwen2():
    import torch
    from safetensors.torch import save_file
    d = os.path.join(HERE, "tiny-qwen2")
    os.makedirs(d, exist_ok=True)
    cfg = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 16, "intermediate_size": 24,
           "num_attention_heads": 2, "num_key_value_heads": 1, "num_hidden_layers": 2, "vocab_size": 40,
           "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": False, "max_position_embeddings": 128}
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    g = torch.Generator().manual_seed(7)
    H, F, V, hd = 16, 24, 40, 8
    t = {"model.embed_tokens.weight": torch.randn(V, H, generator=g), "model.norm.weight": torch.randn(H, generator=g),
         "lm_head.weight": torch.randn(V, H, generator=g).bfloat16()}
    for i in range(2):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = torch.randn(H, generator=g)
        t[p + "post_attention_layernorm.weight"] = torch.randn(H, generator=g)
        t[p + "self_attn.q_proj.weight"] = torch.randn(2 * hd, H, generator=g).half()
        t[p + "self_attn.q_proj.bias"] = torch.randn(2 * hd, generator=g)
        t[p + "self_attn.k_proj.weight"] = torch.randn(hd, H, generator=g)
        t[p + "self_attn.k_proj.bias"] = torch.randn(hd, generator=g)
        t[p + "self_attn.v_proj.weight"] = torch.randn(hd, H, generator=g).bfloat16()
        t[p + "self_attn.v_proj.bias"] = torch.randn(hd, generator=g)
        t[p + "self_attn.o_proj.weight"] = torch.randn(H, 2 * hd, generator=g)
        t[p + "mlp.gate_proj.weight"] = torch.randn(F, H, generator=g)
        t[p + "mlp.up_proj.weight"] = torch.randn(F, H, generator=g)
        t[p + "mlp.down_proj.weight"] = torch.randn(H, F, generator=g)
    names = sorted(t)
    shard = {n: ("model-00001-of-00002.safetensors" if n.startswith("model.layers.0.") or n.startswith("model.embed") else
                 "model-00002-of-00002.safetensors") for n in names}
    for f in set(shard.values()):
        save_file({n: t[n] for n in names if shard[n] == f}, os.path.join(d, f), metadata={"format": "pt"})
    json.dump({"metadata": {"total_size": 0}, "weight_map": shard}, open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=1)
    json.dump({n: sha(t[n].float().numpy()) for n in names}, open(os.path.join(d, "expected.json"), "w"), indent=1)


def write_sample_expected():
    gpath = os.path.expanduser("~/.cache/loratop-ref/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    hpath = os.path.expanduser("~/.cache/loratop-ref/models/smollm2-135m-hf/model.safetensors")
    r = gguf.GGUFReader(gpath)
    by = {t.name: t for t in r.tensors}
    out = {"tensors": {}}
    for name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight", "token_embd.weight",
                 "blk.0.attn_norm.weight", "output_norm.weight"):
        t = by[name]
        deq = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        deq = deq.reshape(-1, int(t.shape[0]))
        out["tensors"][name] = {"type": t.tensor_type.name, "sha256": sha(deq), "row0": deq[0, :8].tolist(),
                                "last_row": deq[-1, -8:].tolist(), "rows": deq.shape[0], "cols": deq.shape[1]}
    from safetensors.numpy import load_file
    hf = load_file(hpath)

    def unpermute(w, n_head):
        dim = w.shape[0] // n_head // 2
        return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)

    out["hf"] = {}
    for hname, gname, heads in (("model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", 9),
                                ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", 3),
                                ("model.layers.29.self_attn.k_proj.weight", "blk.29.attn_k.weight", 3)):
        w = hf[hname].astype(np.float32)
        t = by[gname]
        g = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(w.shape)
        assert np.array_equal(unpermute(g, heads), w), hname
        assert not np.array_equal(g, w), hname
        out["hf"][hname] = {"sha256": sha(w), "rows_1_and_33_first4": [w[1, :4].tolist(), w[33, :4].tolist()]}
    out["file_sha256"] = hashlib.sha256(open(gpath, "rb").read()).hexdigest()
    json.dump(out, open(os.path.join(HERE, "sample_expected.json"), "w"), indent=1)


if __name__ == "__main__":
    write_blocks()
    write_written()
    write_safetensors()
    write_tiny_qwen2()
    write_sample_expected()
    print("ok")
