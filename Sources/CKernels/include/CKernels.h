#ifndef LORATOP_CKERNELS_H
#define LORATOP_CKERNELS_H
// Hot loops Swift cannot vectorise well without per-function target features (byte shuffles, AVX-512 / AVX2 FMA
// tiles, reassociated reductions), chosen at run time from what the CPU supports, each with a portable fallback.
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

/// G = Σ_t x_t x_tᵀ, the (n, n) Gram matrix of `samples` float vectors of length n, accumulated in double (each float
/// product is exact in double), written in full (both triangles) to `out` (n × n). Element i of sample t is
/// x[t * sampleStride + i * elementStride]: B (out, r) row-major is (samples out, stride r, 1); the Gram A Aᵀ of
/// A (r, in) row-major is (samples in, stride 1, in). Returns 0, or -1 when scratch memory cannot be had.
int loratop_gram_f64(const float *x, int64_t samples, int32_t n, int64_t sampleStride, int64_t elementStride,
                     double *out);

/// Which tiles `loratop_gram_f64` runs: 3 = AVX-512, 2 = AVX2 + FMA, 0 = portable.
int loratop_gram_f64_level(void);

/// Forces the portable Gram tiles of both Gram kernels (tests compare the paths).
void loratop_gram_f64_force_portable(int on);

/// G = A Aᵀ, the (r, r) Gram matrix of the rows of A (r, m) row-major, accumulated in float (16 or 8 lanes per dot
/// product, the lanes summed in double), written in full (both triangles) to `out` (r × r). For factors known to be
/// well conditioned (the caller checks); same tile selection as `loratop_gram_f64`. m = 0 gives zeros.
void loratop_gram_rows_f32(const float *a, int32_t r, int64_t m, double *out);

/// R (r, r) upper triangular, row-major, with G = RᵀR (Cholesky), from the symmetric (r, r) row-major G (upper triangle
/// read). Returns 0, or 1 when G is not positive definite (a pivot ≤ 0 or not finite).
int loratop_cholesky_upper(int32_t r, const double *g, double *rf);

/// M = R G Rᵀ for R (r, r) upper triangular and G (r, r) symmetric, both row-major, written over G (exactly symmetric).
/// Returns 0, or 1 when scratch memory could not be allocated.
int loratop_congruence_upper(int32_t r, const double *rf, double *g);

/// Largest n `loratop_tridiagonalize` takes.
#define LORATOP_TRIDIAGONAL_MAX 512

/// Averages the two triangles of the (n, n) row-major matrix `a`, then divides it by its largest |entry|, which it
/// returns (0 for a zero matrix, left as it is; NaN or infinity when an entry is not finite).
double loratop_symmetrize_scale(int32_t n, double *a);

/// Householder reduction of the symmetric (n, n) matrix `a` (full storage, row-major; destroyed) to tridiagonal form,
/// values only: diagonal d[0..<n] and off-diagonal e[0..<n-1], ready for LAPACK's dsterf. Does nothing when
/// n > LORATOP_TRIDIAGONAL_MAX.
void loratop_tridiagonalize(int32_t n, double *a, double *d, double *e);

/// Most matrices `loratop_tridiagonal_eigenvalues` takes at once.
#define LORATOP_QL_BATCH 4

/// Eigenvalues of `count` (≤ LORATOP_QL_BATCH) symmetric tridiagonal matrices, matrix k of order n[k] with diagonal
/// d[k][0..<n[k]] and off-diagonal e[k][0..<n[k]-1], by dsterf's root-free QL iteration with the matrices' sweeps
/// interleaved (so their division chains overlap). The values replace d[k] in no particular order; e[k] is destroyed.
/// Entries should be scaled to order 1. Returns 0, or -1 when a matrix did not converge (30·n sweeps) or the
/// arguments are out of range (then d and e hold partial results).
int loratop_tridiagonal_eigenvalues(int32_t count, const int32_t *n, double *const *d, double *const *e);

/// The index of the first element of x[0..<n] that is NaN or ±infinity, or -1 when all are finite.
int64_t loratop_first_nonfinite(const float *x, int64_t n);

/// Hands freed heap pages back to the operating system (glibc's malloc_trim(0)); 1 when memory was released, 0 when
/// none was or the C library cannot.
int loratop_return_freed_pages(void);

#endif
