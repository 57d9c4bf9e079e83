"""Q5_0 and Q5_1 blocks (llama.cpp's Q4_K_M / Q5_K_M files use them where a row is not a multiple of 256, e.g. every
576-wide SmolLM2 projection): random valid blocks written by gguf-py and gguf.quants.dequantize of each, the oracle.

Run: ~/.cache/loratop/pyenv/bin/python make_q5_blocks.py   (gguf 0.19.0)
-> blocks_q5.gguf, blocks_q5_0.f32.bin, blocks_q5_1.f32.bin
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(555)
rows, cols = 3, 512
w = gguf.GGUFWriter(os.path.join(HERE, "blocks_q5.gguf"), "llama")
for qtype in (T.Q5_0, T.Q5_1):
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // bs
    b = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
    b[:, 0:2] = rng.uniform(-0.1, 0.1, size=nb).astype(np.float16).view(np.uint8).reshape(nb, 2)      # d
    if qtype == T.Q5_1:
        b[:, 2:4] = rng.uniform(-1, 1, size=nb).astype(np.float16).view(np.uint8).reshape(nb, 2)      # m
    raw = b.reshape(rows, cols // bs * ts)
    w.add_tensor(qtype.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qtype)
    deq = gguf.quants.dequantize(raw, qtype).astype(np.float32)
    assert deq.shape == (rows, cols)
    deq.tofile(os.path.join(HERE, f"blocks_{qtype.name.lower()}.f32.bin"))
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print("ok")
