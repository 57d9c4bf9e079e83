#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int force_portable = 0;

void loratop_dequant4_bf16_force_portable(int on) { force_portable = on; }

static inline uint16_t bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/// bf16 of table[c] * s for the 16 codes.
static inline void block_table(const float *table, float s, uint16_t *tb) {
    for (int c = 0; c < 16; c++) tb[c] = bf16_bits(table[c] * s);
}

static inline uint16_t element(const uint8_t *codes, int64_t e, const uint16_t *tb) {
    uint8_t b = codes[e >> 1];
    return tb[(e & 1) ? (b & 15) : (b >> 4)];
}

static void portable(const uint8_t *codes, int64_t first, int64_t count, int64_t blockSize, const float *scales,
                     const float *table, uint16_t *dst) {
    int64_t e = first, end = first + count, b0 = first / blockSize;
    uint16_t tb[16];
    while (e < end) {
        int64_t block = e / blockSize, blockEnd = (block + 1) * blockSize < end ? (block + 1) * blockSize : end;
        block_table(table, scales[block - b0], tb);
        for (; e < blockEnd; e++) *dst++ = element(codes, e, tb);
    }
}

#if defined(__x86_64__)
__attribute__((target("sse4.1")))
static void shuffled(const uint8_t *codes, int64_t first, int64_t count, int64_t blockSize, const float *scales,
                     const float *table, uint16_t *dst) {
    const __m128 t0 = _mm_loadu_ps(table), t1 = _mm_loadu_ps(table + 4), t2 = _mm_loadu_ps(table + 8),
                 t3 = _mm_loadu_ps(table + 12);
    const __m128i bias = _mm_set1_epi32(0x7FFF), one = _mm_set1_epi32(1), nib = _mm_set1_epi8(0x0F),
                  low = _mm_set1_epi16(0x00FF);
    int64_t e = first, end = first + count, b0 = first / blockSize, block = b0, next = (b0 + 1) * blockSize;
    while (e < end) {
        const int64_t blockEnd = next < end ? next : end;
        // the block's 16 possible bf16 values, split into a low-byte and a high-byte shuffle table
        const __m128 s = _mm_set1_ps(scales[block - b0]);
        __m128i r[4];
        const __m128 v[4] = {_mm_mul_ps(t0, s), _mm_mul_ps(t1, s), _mm_mul_ps(t2, s), _mm_mul_ps(t3, s)};
        for (int i = 0; i < 4; i++) {
            __m128i u = _mm_castps_si128(v[i]);
            u = _mm_add_epi32(u, _mm_add_epi32(bias, _mm_and_si128(_mm_srli_epi32(u, 16), one)));
            r[i] = _mm_srli_epi32(u, 16);
        }
        const __m128i w0 = _mm_packus_epi32(r[0], r[1]), w1 = _mm_packus_epi32(r[2], r[3]);  // 16 × u16
        const __m128i lo = _mm_packus_epi16(_mm_and_si128(w0, low), _mm_and_si128(w1, low));
        const __m128i hi = _mm_packus_epi16(_mm_srli_epi16(w0, 8), _mm_srli_epi16(w1, 8));
        uint16_t tb[16];
        _mm_storeu_si128((__m128i *)tb, w0);
        _mm_storeu_si128((__m128i *)(tb + 8), w1);
        if (e & 1) { *dst++ = element(codes, e, tb); e++; }
        // 32 elements (16 bytes of codes) at a time
        while (e + 32 <= blockEnd) {
            const __m128i x = _mm_loadu_si128((const __m128i *)(codes + (e >> 1)));
            const __m128i h = _mm_and_si128(_mm_srli_epi16(x, 4), nib), l = _mm_and_si128(x, nib);
            const __m128i i0 = _mm_unpacklo_epi8(h, l), i1 = _mm_unpackhi_epi8(h, l);  // codes of elements 0–15, 16–31
            const __m128i a0 = _mm_shuffle_epi8(lo, i0), c0 = _mm_shuffle_epi8(hi, i0);
            const __m128i a1 = _mm_shuffle_epi8(lo, i1), c1 = _mm_shuffle_epi8(hi, i1);
            _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi8(a0, c0));
            _mm_storeu_si128((__m128i *)(dst + 8), _mm_unpackhi_epi8(a0, c0));
            _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpacklo_epi8(a1, c1));
            _mm_storeu_si128((__m128i *)(dst + 24), _mm_unpackhi_epi8(a1, c1));
            dst += 32;
            e += 32;
        }
        for (; e < blockEnd; e++) *dst++ = element(codes, e, tb);
        block++;
        next += blockSize;
    }
}
#endif

int loratop_dequant4_bf16_level(void) {
#if defined(__x86_64__)
    if (!force_portable && __builtin_cpu_supports("sse4.1")) return 2;
#endif
    return 0;
}

void loratop_dequant4_bf16(const uint8_t *codes, int64_t first, int64_t count, int64_t blockSize,
                           const float *scales, const float *table, uint16_t *dst) {
    if (count <= 0) return;
#if defined(__x86_64__)
    if (loratop_dequant4_bf16_level() == 2) {
        shuffled(codes, first, count, blockSize, scales, table, dst);
        return;
    }
#endif
    portable(codes, first, count, blockSize, scales, table, dst);
}
