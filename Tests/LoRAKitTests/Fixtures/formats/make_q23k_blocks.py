"""Q2_K and Q3_K blocks (llama.cpp's Q2_K and Q3_K_S/M/L files): random valid blocks written by gguf-py and
gguf.quants.dequantize of each, the oracle.

Run: ~/.cache/loratop/pyenv/bin/python make_q23k_blocks.py   (gguf 0.19.0)
-> blocks_q23k.gguf, blocks_q2_k.f32.bin, blocks_q3_k.f32.bin
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(2323)
rows, cols = 3, 512
w = gguf.GGUFWriter(os.path.join(HERE, "blocks_q23k.gguf"), "llama")
for qtype in (T.Q2_K, T.Q3_K):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // bs
    b = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    halfs = lambda: rng.uniform(-0.01, 0.01, size=nb).astype(np.float16).view(np.uint8).reshape(nb, 2)
    if qtype == T.Q2_K:
        b[:, 80:82] = halfs()   # d
        b[:, 82:84] = halfs()   # dmin
    else:
        b[:, 108:110] = halfs()  # d
    raw = b.reshape(rows, cols // bs * ts)
    w.add_tensor(qtype.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qtype)
    deq = gguf.quants.dequantize(raw, qtype).astype(np.float32)
    assert deq.shape == (rows, cols)
    deq.tofile(os.path.join(HERE, f"blocks_{qtype.name.lower()}.f32.bin"))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print("ok")
