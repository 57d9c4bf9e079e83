#include "CKernels.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// G = Σ_t x_t x_tᵀ (n × n, double) over float samples x_t, accumulated in double (a float product is exact in double,
// so the only rounding is the double accumulation: what the update spectrum needs where a float Gram is not enough).
//
// Layout: samples are converted CHUNK at a time into a zero-padded (CHUNK, np) double buffer that stays in L1 up to
// n = 64 (np = n rounded up to 16; 64 samples a chunk rather than 32 halve the accumulators' loads and stores per
// multiply-add, 7% of a whole-model inspection on Zen 4); the upper tiles of a (np, np) accumulator take rank-CHUNK updates from it. Tiles are
// 8 rows × 16 columns; a tile row block p covers columns from p rounded down to 16, so every (i, j ≥ i) is computed.

enum { CHUNK = 64, TILE_ROWS = 8, TILE_COLS = 16 };

static int force_portable_gram = 0;

void loratop_gram_f64_force_portable(int on) { force_portable_gram = on; }

static void tiles_portable(const double *x, int rows, int np, double *g) {
    for (int p = 0; p < np; p += TILE_ROWS)
        for (int q = p / TILE_COLS * TILE_COLS; q < np; q += TILE_COLS)
            for (int t = 0; t < rows; t++) {
                const double *xt = x + (int64_t)t * np;
                for (int a = 0; a < TILE_ROWS; a++) {
                    const double s = xt[p + a];
                    double *ga = g + (int64_t)(p + a) * np + q;
                    for (int c = 0; c < TILE_COLS; c++) ga[c] += s * xt[q + c];
                }
            }
}

#if defined(__x86_64__)
// A tile row block that starts half-way into a column block (p = 8 mod 16) begins with an 8 × 8 tile on the diagonal
// instead of an 8 × 16 one whose left half lies under it (a tenth of the multiply-adds at n = 64).
__attribute__((target("avx512f")))
static void tiles_avx512(const double *x, int rows, int np, double *g) {
    for (int p = 0; p < np; p += TILE_ROWS) {
        int q0 = p / TILE_COLS * TILE_COLS;
        if (q0 != p) {
            __m512d c[TILE_ROWS];
            for (int a = 0; a < TILE_ROWS; a++) c[a] = _mm512_loadu_pd(g + (int64_t)(p + a) * np + p);
            for (int t = 0; t < rows; t++) {
                const double *xt = x + (int64_t)t * np;
                const __m512d x0 = _mm512_loadu_pd(xt + p);
                for (int a = 0; a < TILE_ROWS; a++) c[a] = _mm512_fmadd_pd(_mm512_set1_pd(xt[p + a]), x0, c[a]);
            }
            for (int a = 0; a < TILE_ROWS; a++) _mm512_storeu_pd(g + (int64_t)(p + a) * np + p, c[a]);
            q0 = p + TILE_ROWS;
        }
        for (int q = q0; q < np; q += TILE_COLS) {
            __m512d c0[TILE_ROWS], c1[TILE_ROWS];
            for (int a = 0; a < TILE_ROWS; a++) {
                c0[a] = _mm512_loadu_pd(g + (int64_t)(p + a) * np + q);
                c1[a] = _mm512_loadu_pd(g + (int64_t)(p + a) * np + q + 8);
            }
            for (int t = 0; t < rows; t++) {
                const double *xt = x + (int64_t)t * np;
                const __m512d x0 = _mm512_loadu_pd(xt + q), x1 = _mm512_loadu_pd(xt + q + 8);
                for (int a = 0; a < TILE_ROWS; a++) {
                    const __m512d s = _mm512_set1_pd(xt[p + a]);
                    c0[a] = _mm512_fmadd_pd(s, x0, c0[a]);
                    c1[a] = _mm512_fmadd_pd(s, x1, c1[a]);
                }
            }
            for (int a = 0; a < TILE_ROWS; a++) {
                _mm512_storeu_pd(g + (int64_t)(p + a) * np + q, c0[a]);
                _mm512_storeu_pd(g + (int64_t)(p + a) * np + q + 8, c1[a]);
            }
        }
    }
}

// Samples t (n floats each, sampleStride apart) to rows of the (rows, np) double buffer, 16 at a time (the baseline
// build's conversion runs two floats per instruction, a tenth of the whole Gram at n = 64).
__attribute__((target("avx512f")))
static void widen_rows_avx512(const float *x, int rows, int n, int64_t sampleStride, int np, double *buf) {
    const int full = n / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (n - full)) - 1);
    for (int t = 0; t < rows; t++) {
        const float *xt = x + (int64_t)t * sampleStride;
        double *bt = buf + (int64_t)t * np;
        int i = 0;
        for (; i < full; i += 16) {
            const __m512 v = _mm512_loadu_ps(xt + i);
            _mm512_storeu_pd(bt + i, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            _mm512_storeu_pd(bt + i + 8, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
        }
        if (i < n) {
            const __m512 v = _mm512_maskz_loadu_ps(tail, xt + i);
            const __mmask8 lo = (__mmask8)(tail & 0xFF), hi = (__mmask8)(tail >> 8);
            _mm512_mask_storeu_pd(bt + i, lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
            _mm512_mask_storeu_pd(bt + i + 8, hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
        }
    }
}

// AVX2: the same tiles as two halves of 4 rows (4 rows × 4 ymm = 16 accumulators each).
__attribute__((target("avx2,fma")))
static void tiles_avx2(const double *x, int rows, int np, double *g) {
    for (int p = 0; p < np; p += 4)
        for (int q = p / TILE_COLS * TILE_COLS; q < np; q += TILE_COLS) {
            __m256d c[4][4];
            for (int a = 0; a < 4; a++)
                for (int k = 0; k < 4; k++) c[a][k] = _mm256_loadu_pd(g + (int64_t)(p + a) * np + q + 4 * k);
            for (int t = 0; t < rows; t++) {
                const double *xt = x + (int64_t)t * np;
                __m256d v[4];
                for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_pd(xt + q + 4 * k);
                for (int a = 0; a < 4; a++) {
                    const __m256d s = _mm256_broadcast_sd(xt + p + a);
                    for (int k = 0; k < 4; k++) c[a][k] = _mm256_fmadd_pd(s, v[k], c[a][k]);
                }
            }
            for (int a = 0; a < 4; a++)
                for (int k = 0; k < 4; k++) _mm256_storeu_pd(g + (int64_t)(p + a) * np + q + 4 * k, c[a][k]);
        }
}
#endif

int loratop_gram_f64_level(void) {
#if defined(__x86_64__)
    if (force_portable_gram) return 0;
    if (__builtin_cpu_supports("avx512f")) return 3;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2;
#endif
    return 0;
}

int loratop_gram_f64(const float *x, int64_t samples, int32_t n, int64_t sampleStride, int64_t elementStride,
                     double *out) {
    if (n == 0) return 0;
    if (n < 0 || samples < 0) return -1;
    const int np = (n + TILE_COLS - 1) / TILE_COLS * TILE_COLS;
    double *g = calloc((size_t)np * np, sizeof(double)), *buf = calloc((size_t)CHUNK * np, sizeof(double));
    if (!g || !buf) { free(g); free(buf); return -1; }
    const int level = loratop_gram_f64_level();
    for (int64_t t0 = 0; t0 < samples; t0 += CHUNK) {
        const int rows = samples - t0 < CHUNK ? (int)(samples - t0) : CHUNK;
        if (elementStride == 1) {
#if defined(__x86_64__)
            if (level == 3) { widen_rows_avx512(x + t0 * sampleStride, rows, n, sampleStride, np, buf); goto tiles; }
#endif
            for (int t = 0; t < rows; t++) {
                const float *xt = x + (t0 + t) * sampleStride;
                double *bt = buf + (int64_t)t * np;
                for (int i = 0; i < n; i++) bt[i] = xt[i];
            }
        } else {  // each element's samples are contiguous when sampleStride is 1 (A's rows): read them in order
            for (int i = 0; i < n; i++) {
                const float *xi = x + i * elementStride + t0 * sampleStride;
                for (int t = 0; t < rows; t++) buf[(int64_t)t * np + i] = xi[t * sampleStride];
            }
        }
#if defined(__x86_64__)
    tiles:
#endif
        if (elementStride == 1 && t0 + CHUNK < samples) {
            // the next chunk's samples (contiguous rows of B) on their way from memory while this one's tiles run
            const char *next = (const char *)(x + (t0 + CHUNK) * sampleStride);
            const int64_t bytes = (int64_t)(samples - t0 - CHUNK < CHUNK ? samples - t0 - CHUNK : CHUNK) * sampleStride * 4;
            for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(next + off, 0, 3);
        }
#if defined(__x86_64__)
        if (level == 3) tiles_avx512(buf, rows, np, g);
        else if (level == 2) tiles_avx2(buf, rows, np, g);
        else tiles_portable(buf, rows, np, g);
#else
        tiles_portable(buf, rows, np, g);
#endif
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) out[(int64_t)i * n + j] = j >= i ? g[(int64_t)i * np + j] : g[(int64_t)j * np + i];
    free(g);
    free(buf);
    return 0;
}

// G = A Aᵀ (r × r) of A (r, m) row-major, accumulated in float (lane-wise, then the lanes summed in double): the fast
// Gram of a well-conditioned factor, where a float Gram is enough (the caller checks the conditioning). Tiles of
// TR × TR rows (i block ≤ j block) take dot products along m; rows past r are read as row r − 1 and not stored.

enum { TR = 4 };

static inline const float *row_at(const float *a, int32_t r, int64_t m, int i) {
    return a + (int64_t)(i < r ? i : r - 1) * m;
}

static void store_tile(double acc[TR][TR], int p, int q, int32_t r, double *out) {
    for (int i = 0; i < TR && p + i < r; i++)
        for (int j = 0; j < TR && q + j < r; j++) {
            out[(int64_t)(p + i) * r + q + j] = acc[i][j];
            out[(int64_t)(q + j) * r + p + i] = acc[i][j];
        }
}

static void rows_portable(const float *a, int32_t r, int64_t m, double *out) {
    for (int p = 0; p < r; p += TR)
        for (int q = p; q < r; q += TR) {
            double acc[TR][TR];
            for (int i = 0; i < TR; i++)
                for (int j = 0; j < TR; j++) {
                    const float *x = row_at(a, r, m, p + i), *y = row_at(a, r, m, q + j);
                    float s = 0;
                    for (int64_t t = 0; t < m; t++) s += x[t] * y[t];
                    acc[i][j] = s;
                }
            store_tile(acc, p, q, r, out);
        }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void rows_avx512(const float *a, int32_t r, int64_t m, double *out) {
    const int64_t full = m / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (m - full)) - 1);
    for (int p = 0; p < r; p += TR)
        for (int q = p; q < r; q += TR) {
            const float *x[TR], *y[TR];
            for (int i = 0; i < TR; i++) { x[i] = row_at(a, r, m, p + i); y[i] = row_at(a, r, m, q + i); }
            __m512 c[TR][TR];
            for (int i = 0; i < TR; i++)
                for (int j = 0; j < TR; j++) c[i][j] = _mm512_setzero_ps();
            for (int64_t t = 0; t < m; t += 16) {
                __m512 u[TR], v[TR];
                for (int i = 0; i < TR; i++) {
                    u[i] = t < full ? _mm512_loadu_ps(x[i] + t) : _mm512_maskz_loadu_ps(tail, x[i] + t);
                    v[i] = t < full ? _mm512_loadu_ps(y[i] + t) : _mm512_maskz_loadu_ps(tail, y[i] + t);
                }
                for (int i = 0; i < TR; i++)
                    for (int j = 0; j < TR; j++) c[i][j] = _mm512_fmadd_ps(u[i], v[j], c[i][j]);
            }
            double acc[TR][TR];
            for (int i = 0; i < TR; i++)
                for (int j = 0; j < TR; j++) {
                    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(c[i][j]));
                    const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(c[i][j]), 1)));
                    acc[i][j] = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
                }
            store_tile(acc, p, q, r, out);
        }
}

// AVX2: tiles of 4 × 2 rows (8 accumulators + 6 operands of the 16 ymm registers).
__attribute__((target("avx2,fma")))
static void rows_avx2(const float *a, int32_t r, int64_t m, double *out) {
    const int64_t full = m / 8 * 8;
    for (int p = 0; p < r; p += TR)
        for (int q = p; q < r; q += TR) {
            double acc[TR][TR];
            for (int jj = 0; jj < TR; jj += 2) {
                const float *x[TR], *y[2];
                for (int i = 0; i < TR; i++) x[i] = row_at(a, r, m, p + i);
                for (int j = 0; j < 2; j++) y[j] = row_at(a, r, m, q + jj + j);
                __m256 c[TR][2];
                for (int i = 0; i < TR; i++) { c[i][0] = _mm256_setzero_ps(); c[i][1] = _mm256_setzero_ps(); }
                for (int64_t t = 0; t < full; t += 8) {
                    const __m256 v0 = _mm256_loadu_ps(y[0] + t), v1 = _mm256_loadu_ps(y[1] + t);
                    for (int i = 0; i < TR; i++) {
                        const __m256 u = _mm256_loadu_ps(x[i] + t);
                        c[i][0] = _mm256_fmadd_ps(u, v0, c[i][0]);
                        c[i][1] = _mm256_fmadd_ps(u, v1, c[i][1]);
                    }
                }
                for (int i = 0; i < TR; i++)
                    for (int j = 0; j < 2; j++) {
                        float lanes[8];
                        _mm256_storeu_ps(lanes, c[i][j]);
                        double s = 0;
                        for (int l = 0; l < 8; l++) s += lanes[l];
                        for (int64_t t = full; t < m; t++) s += x[i][t] * y[j][t];
                        acc[i][jj + j] = s;
                    }
            }
            store_tile(acc, p, q, r, out);
        }
}
#endif

void loratop_gram_rows_f32(const float *a, int32_t r, int64_t m, double *out) {
    if (r <= 0 || m < 0) return;
#if defined(__x86_64__)
    const int level = loratop_gram_f64_level();
    if (level == 3) { rows_avx512(a, r, m, out); return; }
    if (level == 2) { rows_avx2(a, r, m, out); return; }
#endif
    rows_portable(a, r, m, out);
}
