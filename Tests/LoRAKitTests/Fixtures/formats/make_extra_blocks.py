"""Block types beyond make_formats.py's, each file of random valid blocks written by gguf-py with gguf.quants.dequantize
of each tensor, the oracle:
- Q5_0 and Q5_1 (llama.cpp's Q4_K_M / Q5_K_M files use them where a row is not a multiple of 256, e.g. every
  576-wide SmolLM2 projection) -> blocks_q5.gguf, blocks_q5_0.f32.bin, blocks_q5_1.f32.bin;
- Q2_K and Q3_K (llama.cpp's Q2_K and Q3_K_S/M/L files) -> blocks_q23k.gguf, blocks_q2_k.f32.bin, blocks_q3_k.f32.bin.

Run: ~/.cache/loratop/pyenv/bin/python make_extra_blocks.py   (gguf 0.19.0)
"""
import os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS, COLS = 3, 512


def write(name, seed, fields):
    """blocks_<name>.gguf with a tensor per type of `fields` (type -> [(byte offset in the block, f16 range)] of its
    scale fields, drawn in range so that every value is finite), each 3 × 512, and its dequantized values."""
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(os.path.join(HERE, f"blocks_{name}.gguf"), "llama")
    for qtype, scales in fields.items():
        bs, ts = gguf.GGML_QUANT_SIZES[qtype]
        nb = ROWS * COLS // bs
        b = rng.integers(0, 256, size=(nb, ts), dtype=np.uint8)
        for at, scale in scales:
            b[:, at:at + 2] = rng.uniform(-scale, scale, size=nb).astype(np.float16).view(np.uint8).reshape(nb, 2)
        raw = b.reshape(ROWS, COLS // bs * ts)
        w.add_tensor(qtype.name.lower(), raw, raw_shape=raw.shape, raw_dtype=qtype)
        deq = gguf.quants.dequantize(raw, qtype).astype(np.float32)
        assert deq.shape == (ROWS, COLS)
        deq.tofile(os.path.join(HERE, f"blocks_{qtype.name.lower()}.f32.bin"))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()


write("q5", 555, {T.Q5_0: [(0, 0.1)], T.Q5_1: [(0, 0.1), (2, 1.0)]})                # d; d, m
write("q23k", 2323, {T.Q2_K: [(80, 0.01), (82, 0.01)], T.Q3_K: [(108, 0.01)]})      # d, dmin; d
print("ok")
