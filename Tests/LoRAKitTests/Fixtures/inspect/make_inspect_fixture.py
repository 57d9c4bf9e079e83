#!/usr/bin/env python3
"""Fixtures for loratop's update inspection (`loratop inspect`, the Inside panel).

Run in a venv outside the repository (numpy, torch, transformers, peft, safetensors), e.g.
    /tmp/venv-hf/bin/python Tests/LoRAKitTests/Fixtures/inspect/make_inspect_fixture.py

1. Spectra. Makes two small PEFT adapters on a tiny random LlamaForCausalLM (hidden 64, 2 layers, all seven
   projections, r 8, lora_alpha 16), one with use_rslora, with B set to a random non-zero matrix (PEFT's own init
   leaves B = 0) and saves them with PEFT's save_pretrained into peft-r8/ and peft-r8-rslora/. For those and for the
   loratop-saved adapter in loratop-r8/ (a few steps of `loratop train --preset tiny`, committed as written), it forms
   the DENSE update scale·B·A in float64 from the saved float32 tensors and writes numpy.linalg.svd's singular values,
   ‖ΔW‖_F and the effective ranks at 90% and 99% energy to spectra.json.
2. Quantization errors. If the sample model is cached (~/.cache/loratop/SmolLM2-135M-Instruct.Q4_1.gguf), reads a few
   real matrices with an independent numpy GGUF reader (Q4_1 and Q8_0 blocks, as the file stores them: the source
   weights), quantizes them blockwise to NF4, FP4 (block 64; NF4 also with double quantization of the scales) and
   INT8 with bitsandbytes' dynamic map, and writes the relative RMS error ‖Q(W) − W‖_F / ‖W‖_F to quant_errors.json.
   llama.cpp's q/k row permutation is undone first (row order matters with double quantization: its blocks of 256
   scales span rows).
Figures only: no weights of the sample model are written.
"""
import json, os, struct
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GGUF = os.path.expanduser("~/.cache/loratop/SmolLM2-135M-Instruct.Q4_1.gguf")


def effective_rank(s, p):
    e = s.astype(np.float64) ** 2
    total = e.sum()
    if total <= 0:
        return 0
    c = np.cumsum(e)
    return int(np.argmax(c >= p * total * (1 - 1e-12)) + 1)


def spectra_of(folder):
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(folder, "adapter_config.json")))
    r, alpha = cfg["r"], cfg["lora_alpha"]
    scale = alpha / np.sqrt(r) if cfg.get("use_rslora") else alpha / r
    t = load_file(os.path.join(folder, "adapter_model.safetensors"))
    out = []
    for key in sorted(k for k in t if k.endswith(".lora_A.weight")):
        name = key[: -len(".lora_A.weight")].replace("base_model.model.", "", 1)
        a = t[key].astype(np.float64)
        b = t[key.replace("lora_A", "lora_B")].astype(np.float64)
        dw = scale * (b @ a)  # dense (out, in): the reference computation loratop must avoid
        s = np.linalg.svd(dw, compute_uv=False)[: min(r, *dw.shape)]
        out.append({"name": name, "singularValues": [float(x) for x in s], "updateNorm": float(np.linalg.norm(dw)),
                    "effectiveRank90": effective_rank(s, 0.90), "effectiveRank99": effective_rank(s, 0.99)})
    return {"folder": os.path.basename(folder), "scale": float(scale), "rank": r, "modules": out}


def make_peft(folder, rslora):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(7 if rslora else 5)
    cfg = LlamaConfig(vocab_size=259, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    model = LlamaForCausalLM(cfg)
    lc = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                        "up_proj", "down_proj"], use_rslora=rslora, task_type="CAUSAL_LM")
    pm = get_peft_model(model, lc)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                # decaying column scales: a spectrum with structure, so effective ranks are not all r
                decay = torch.tensor([0.5 ** j for j in range(p.shape[1])])
                p.copy_(torch.randn_like(p) * 0.02 * decay)
    pm.save_pretrained(folder, safe_serialization=True)
    if os.path.exists(os.path.join(folder, "README.md")):
        os.remove(os.path.join(folder, "README.md"))  # PEFT's model card: not needed


def read_gguf(path):
    """A minimal GGUF v3 reader: tensor infos and the data offset (independent of loratop's reader)."""
    f = open(path, "rb")
    magic, version, n_tensors, n_kv = struct.unpack("<4sIQQ", f.read(24))
    assert magic == b"GGUF" and version == 3

    def rstr():
        (n,) = struct.unpack("<Q", f.read(8))
        return f.read(n).decode()

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def rval(t):
        if t == 8:
            return rstr()
        if t == 9:
            (et,) = struct.unpack("<I", f.read(4))
            (n,) = struct.unpack("<Q", f.read(8))
            return [rval(et) for _ in range(n)]
        return struct.unpack(fmt[t], f.read(sizes[t]))[0]

    kv = {}
    for _ in range(n_kv):
        k = rstr()
        (t,) = struct.unpack("<I", f.read(4))
        kv[k] = rval(t)
    infos = {}
    for _ in range(n_tensors):
        name = rstr()
        (nd,) = struct.unpack("<I", f.read(4))
        dims = struct.unpack("<%dQ" % nd, f.read(8 * nd))
        ttype, off = struct.unpack("<IQ", f.read(12))
        infos[name] = (dims, ttype, off)
    align = kv.get("general.alignment", 32)
    data = (f.tell() + align - 1) // align * align
    return infos, data


def dequant(path, info, data):
    dims, ttype, off = info
    n = int(np.prod(dims))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=data + off)
    if ttype == 3:  # Q4_1: f16 d, f16 m, 16 bytes (low nibble j, high nibble j+16)
        blk = np.asarray(raw[: n // 32 * 20]).reshape(-1, 20)
        d = blk[:, 0:2].copy().view(np.float16).astype(np.float32)
        m = blk[:, 2:4].copy().view(np.float16).astype(np.float32)
        q = blk[:, 4:]
        nib = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.float32)
        x = d * nib + m
    elif ttype == 8:  # Q8_0: f16 d, int8 q[32]
        blk = np.asarray(raw[: n // 32 * 34]).reshape(-1, 34)
        d = blk[:, 0:2].copy().view(np.float16).astype(np.float32)
        x = d * blk[:, 2:].copy().view(np.int8).astype(np.float32)
    else:
        raise SystemExit("unexpected tensor type %d" % ttype)
    return x.reshape(dims[1], dims[0]).astype(np.float32)  # (rows, cols) = (out, in)


NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=np.float32)
FP4 = np.array([0, 0.0625, 8, 12, 4, 6, 2, 3, -0.0, -0.0625, -8, -12, -4, -6, -2, -3], dtype=np.float32) / 12


def nearest(values, book):
    """Nearest codebook value (ties to the lower one), vectorised with a sorted book and midpoints."""
    s = np.unique(book)
    mids = (s[1:] + s[:-1]) / 2
    return s[np.searchsorted(mids, values, side="left")]


def dynamic_map():
    return np.fromfile(os.path.join(HERE, "..", "quant", "dynamic_map.bin"), dtype="<f4")


def dynamic_codes(v):
    """bitsandbytes' CPU blockwise 8-bit lookup (csrc/cpu_ops.cpp): a 65536-entry table over [-1, 1], entry i the
    nearest map value to -1 + 2i/65535 by midpoints, indexed by int(0.5 + (clip(v, -1, 1) + 1) / 2 * 65535) with the
    last multiply-add fused (x86-64 builds use FMA): exact in float64, then rounded once to float32."""
    m = dynamic_map()
    mids = np.float32(0.5) * (m[1:] + m[:-1])
    grid = np.float32(-1) + (np.float32(2) * np.arange(65536, dtype=np.float32)) / np.float32(65535)
    lut = np.searchsorted(mids, grid, side="left")  # first code whose upper midpoint is >= the grid value
    v = np.clip(v.astype(np.float32), -1, 1)
    half = ((v + 1) * np.float32(0.5)).astype(np.float64)
    idx = (half * 65535 + 0.5).astype(np.float32).astype(np.int64)
    return m[lut[np.clip(idx, 0, 65535)]]


def blockwise(x, book, bs=64, double=False, lookup=None):
    flat = x.reshape(-1, bs).astype(np.float32)
    absmax = np.abs(flat).max(axis=1)
    scales = absmax  # what dequantization multiplies by: the absmax, or its double-quantized restoration
    if double:  # bitsandbytes' nested scales: offset = mean, blocks of 256 with the dynamic map
        off = absmax.mean(dtype=np.float32)
        c = absmax - off
        nested = []
        for i in range(0, c.size, 256):  # the last block of scales may be partial
            part = c[i:i + 256]
            a2 = np.abs(part).max()
            nested.append(dynamic_codes(part * (1 / a2)) * a2 + off)
        scales = np.concatenate(nested).astype(np.float32)  # the codes still come from the true absmax
    safe = np.where(absmax == 0, 1, absmax)
    normed = flat * (1 / safe[:, None])
    q = (lookup(normed) if lookup else nearest(normed, book)) * scales[:, None]
    return q.reshape(x.shape)


def rel_err(q, w):
    q64, w64 = q.astype(np.float64), w.astype(np.float64)
    return float(np.linalg.norm(q64 - w64) / np.linalg.norm(w64))


def quant_errors():
    infos, data = read_gguf(GGUF)
    picks = [("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight"),
             ("blk.29.attn_v.weight", "model.layers.29.self_attn.v_proj.weight"),
             ("blk.5.ffn_down.weight", "model.layers.5.mlp.down_proj.weight"),
             ("token_embd.weight", "model.embed_tokens.weight")]
    out = []
    for gg, hf in picks:
        w = dequant(GGUF, infos[gg], data)
        if gg.endswith("attn_q.weight"):  # undo convert_hf_to_gguf's permute (9 heads of 64 rows)
            heads = 9
            w = w.reshape(heads, w.shape[0] // heads // 2, 2, w.shape[1]).swapaxes(1, 2).reshape(w.shape)
        src = {3: "q4_1", 8: "q8_0"}[infos[gg][1]]
        e = {"nf4": rel_err(blockwise(w, NF4), w), "nf4+dq": rel_err(blockwise(w, NF4, double=True), w),
             "fp4": rel_err(blockwise(w, FP4), w), "int8": rel_err(blockwise(w, None, lookup=dynamic_codes), w)}
        out.append({"tensor": hf, "ggufTensor": gg, "source": src, "rows": int(w.shape[0]), "cols": int(w.shape[1]),
                    "frobenius": float(np.linalg.norm(w.astype(np.float64))), "errors": e})
        print(hf, src, w.shape, {k: round(v, 6) for k, v in e.items()})
    return out


if __name__ == "__main__":
    for name, rs in [("peft-r8", False), ("peft-r8-rslora", True)]:
        make_peft(os.path.join(HERE, name), rs)
    adapters = [spectra_of(os.path.join(HERE, n)) for n in ["peft-r8", "peft-r8-rslora", "loratop-r8"]
                if os.path.exists(os.path.join(HERE, n, "adapter_config.json"))]
    json.dump({"adapters": adapters}, open(os.path.join(HERE, "spectra.json"), "w"), indent=1)
    print("spectra:", [(a["folder"], len(a["modules"])) for a in adapters])
    if os.path.exists(GGUF):
        json.dump({"model": os.path.basename(GGUF), "blockSize": 64, "cases": quant_errors()},
                  open(os.path.join(HERE, "quant_errors.json"), "w"), indent=1)
    else:
        print("sample model not cached; quant_errors.json left as it is")
