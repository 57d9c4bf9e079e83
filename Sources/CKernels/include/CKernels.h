#ifndef LORATOP_CKERNELS_H
#define LORATOP_CKERNELS_H
// Hot loops Swift cannot vectorise well without per-function target features: byte shuffles (SSSE3 / SSE4.1),
// chosen at run time from what the CPU supports, with a portable fallback computing the same bits.
#include <stdint.h>

/// Dequantizes elements [first, first + count) of a bitsandbytes 4-bit blockwise matrix (two codes per byte, the
/// even element in the high nibble) straight to bf16 bits: each value is table[code] * scale of its block, in fp32,
/// rounded to nearest even (as fp32 dequantization followed by rounding). `scales[b]` is the scale of block
/// first / blockSize + b. Finite tables and scales only (the quantizer refuses NaN and Inf).
void loratop_dequant4_bf16(const uint8_t *codes, int64_t first, int64_t count, int64_t blockSize,
                           const float *scales, const float *table, uint16_t *dst);

/// Which implementation `loratop_dequant4_bf16` runs: 2 = SSE4.1 byte shuffles, 0 = portable.
int loratop_dequant4_bf16_level(void);

/// Forces the portable implementation (tests compare the two).
void loratop_dequant4_bf16_force_portable(int on);
#endif
