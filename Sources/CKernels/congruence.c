#include "CKernels.h"
#include <math.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The small dense steps of the update spectrum between its Gram matrices and its tridiagonal reduction, for r ≤ a few
// hundred: LAPACK's dpotrf and BLAS's dtrmm do the same, but at r = 64 their blocking and dispatch cost more than the
// arithmetic (a tenth of a whole-model inspection). Each inner loop is an axpy along a contiguous row, which the
// compiler vectorises for every clone.

// R (r, r) upper triangular, row-major, with G = RᵀR, from the symmetric G (row-major; only its upper triangle is read).
// Right-looking: row i of R is row i of the trailing block scaled by 1/√pivot; the block below takes a rank-1 update
// on its upper triangle (the AVX-512 build runs each row's update 8 columns at a time with a masked tail). Returns 0,
// or 1 when a pivot is not positive or not finite (G not positive definite).

static void row_update_portable(double *rk, const double *ri, double s, int from, int to) {
    for (int j = from; j < to; j++) rk[j] -= s * ri[j];
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void row_update_avx512(double *rk, const double *ri, double s, int from, int to) {
    const __m512d sv = _mm512_set1_pd(s);
    int j = from;
    for (; j + 8 <= to; j += 8)
        _mm512_storeu_pd(rk + j, _mm512_fnmadd_pd(sv, _mm512_loadu_pd(ri + j), _mm512_loadu_pd(rk + j)));
    if (j < to) {
        const __mmask8 m = (__mmask8)((1u << (to - j)) - 1);
        _mm512_mask_storeu_pd(rk + j, m, _mm512_fnmadd_pd(sv, _mm512_maskz_loadu_pd(m, ri + j), _mm512_maskz_loadu_pd(m, rk + j)));
    }
}
#endif

int loratop_cholesky_upper(int32_t r, const double *g, double *rf) {
    if (r <= 0) return 0;
    void (*update)(double *, const double *, double, int, int) = row_update_portable;
#if defined(__x86_64__)
    if (loratop_gram_f64_level() == 3) update = row_update_avx512;
#endif
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < i; j++) rf[(int64_t)i * r + j] = 0;
        for (int j = i; j < r; j++) rf[(int64_t)i * r + j] = g[(int64_t)i * r + j];
    }
    for (int i = 0; i < r; i++) {
        double *ri = rf + (int64_t)i * r;
        const double pivot = ri[i];
        if (!(pivot > 0) || !isfinite(pivot)) return 1;
        const double d = sqrt(pivot), inv = 1 / d;
        ri[i] = d;
        for (int j = i + 1; j < r; j++) ri[j] *= inv;
        for (int k = i + 1; k < r; k++) update(rf + (int64_t)k * r, ri, ri[k], k, r);
    }
    return 0;
}

// M = R G Rᵀ (r, r) for R upper triangular and G symmetric (both row-major, full storage), written over G; M comes
// out exactly symmetric (its upper triangle computed, then mirrored). Both products run on copies zero-padded to a
// multiple of 32 columns: T = R G (T_i = Σ_{k≥i} R_ik G_k), then M = T Rᵀ with Rᵀ lower triangular, so the tile at
// columns [j0, j0 + 32) needs only k ≥ j0, and only tiles reaching the diagonal or right of it are computed.
// Returns 0, or 1 when the scratch memory is not there.

enum { CT_ROWS = 4, CT_COLS = 32 };

// C[i0:i0+4, j0:j0+32] = Σ_{k0 ≤ k < np} X[i, k] Y[k, j0:j0+32] on (np, np) row-major buffers.
static void tile_portable(int np, const double *x, const double *y, double *c, int i0, int j0, int k0) {
    for (int a = 0; a < CT_ROWS; a++) {
        double acc[CT_COLS] = {0};
        const double *xa = x + (int64_t)(i0 + a) * np;
        for (int k = k0; k < np; k++) {
            const double s = xa[k];
            const double *yk = y + (int64_t)k * np + j0;
            for (int j = 0; j < CT_COLS; j++) acc[j] += s * yk[j];
        }
        for (int j = 0; j < CT_COLS; j++) c[(int64_t)(i0 + a) * np + j0 + j] = acc[j];
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void tile_avx512(int np, const double *x, const double *y, double *c, int i0, int j0, int k0) {
    __m512d acc[CT_ROWS][4];
    for (int a = 0; a < CT_ROWS; a++)
        for (int q = 0; q < 4; q++) acc[a][q] = _mm512_setzero_pd();
    for (int k = k0; k < np; k++) {
        const double *yk = y + (int64_t)k * np + j0;
        const __m512d y0 = _mm512_loadu_pd(yk), y1 = _mm512_loadu_pd(yk + 8), y2 = _mm512_loadu_pd(yk + 16),
                      y3 = _mm512_loadu_pd(yk + 24);
        for (int a = 0; a < CT_ROWS; a++) {
            const __m512d s = _mm512_set1_pd(x[(int64_t)(i0 + a) * np + k]);
            acc[a][0] = _mm512_fmadd_pd(s, y0, acc[a][0]);
            acc[a][1] = _mm512_fmadd_pd(s, y1, acc[a][1]);
            acc[a][2] = _mm512_fmadd_pd(s, y2, acc[a][2]);
            acc[a][3] = _mm512_fmadd_pd(s, y3, acc[a][3]);
        }
    }
    for (int a = 0; a < CT_ROWS; a++)
        for (int q = 0; q < 4; q++) _mm512_storeu_pd(c + (int64_t)(i0 + a) * np + j0 + 8 * q, acc[a][q]);
}
#endif

int loratop_congruence_upper(int32_t r, const double *rf, double *g) {
    if (r <= 0) return 0;
    const int np = (r + CT_COLS - 1) / CT_COLS * CT_COLS;
    const size_t size = (size_t)np * np;
    double *buf = calloc(4 * size, sizeof(double));
    if (!buf) return 1;
    double *rp = buf, *rt = buf + size, *gp = buf + 2 * size, *t = buf + 3 * size;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) {
            gp[(int64_t)i * np + j] = g[(int64_t)i * r + j];
            if (j >= i) { rp[(int64_t)i * np + j] = rf[(int64_t)i * r + j]; rt[(int64_t)j * np + i] = rf[(int64_t)i * r + j]; }
        }
    void (*tile)(int, const double *, const double *, double *, int, int, int) = tile_portable;
#if defined(__x86_64__)
    if (loratop_gram_f64_level() == 3) tile = tile_avx512;
#endif
    for (int i0 = 0; i0 < np; i0 += CT_ROWS)                       // T = R G: R's row i is zero before column i
        for (int j0 = 0; j0 < np; j0 += CT_COLS) tile(np, rp, gp, t, i0, j0, i0);
    for (int i0 = 0; i0 < np; i0 += CT_ROWS)                       // M = T Rᵀ, tiles reaching the diagonal or right of it
        for (int j0 = i0 / CT_COLS * CT_COLS; j0 < np; j0 += CT_COLS) tile(np, t, rt, gp, i0, j0, j0);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) g[(int64_t)i * r + j] = j >= i ? gp[(int64_t)i * np + j] : gp[(int64_t)j * np + i];
    free(buf);
    return 0;
}
