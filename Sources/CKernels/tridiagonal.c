#include "CKernels.h"
#include <math.h>

// Householder reduction of a small dense symmetric matrix to tridiagonal form, values only (no Q is kept), for the
// update spectrum's r × r eigenproblem. LAPACK's dsytrd does the same; at r ≤ 256 it spends its time in level-2 calls
// whose dot products run one accumulator deep, which is why this exists: the same algorithm with the reductions
// reassociated so they vectorise, only the upper triangle read and written (row i from its diagonal on: contiguous),
// so the symmetric product and the rank-2 update each cost m²/2 multiply-adds per step instead of m².
//
// Step k (0 ≤ k < n − 2), trailing block A₂₂ = a[k+1:, k+1:] (m = n − k − 1), x = a[k, k+1:]:
//   α = −sign(x₀)‖x‖, v = x − α e₁, h = vᵀv / 2 = ‖x‖² − x₀ α, H = I − v vᵀ / h
//   p = A₂₂ v / h, K = vᵀp / 2h, q = p − K v, A₂₂ ← H A₂₂ H = A₂₂ − v qᵀ − q vᵀ
// and e[k] = α couples k and k + 1. A₂₂ v from the upper triangle: row i gives p_i its dot product with v over j ≥ i
// and every later p_j its A_ij v_i.
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
void loratop_tridiagonalize(int32_t n, double *a, double *d, double *e) {
    double v[LORATOP_TRIDIAGONAL_MAX], p[LORATOP_TRIDIAGONAL_MAX];
    if (n <= 0 || n > LORATOP_TRIDIAGONAL_MAX) return;
    for (int k = 0; k + 2 < n; k++) {
        const double *x = a + (int64_t)k * n + k + 1;
        const int m = n - k - 1;
        double s = 0;
        {
#pragma clang fp reassociate(on)
            for (int i = 0; i < m; i++) s += x[i] * x[i];
        }
        d[k] = a[(int64_t)k * n + k];
        const double norm = sqrt(s), alpha = x[0] > 0 ? -norm : norm, h = s - x[0] * alpha;
        e[k] = alpha;
        if (s == 0) continue;  // x = 0: this column is already reduced (α = 0)
        for (int i = 0; i < m; i++) { v[i] = x[i]; p[i] = 0; }
        v[0] -= alpha;
        for (int i = 0; i < m; i++) {
            const double *row = a + (int64_t)(k + 1 + i) * n + k + 1;  // A₂₂[i, :], valid from column i
            const double vi = v[i];
            double t = row[i] * vi;
            {
#pragma clang fp reassociate(on)
                for (int j = i + 1; j < m; j++) { t += row[j] * v[j]; p[j] += row[j] * vi; }
            }
            p[i] += t;
        }
        double kk = 0;
        for (int i = 0; i < m; i++) { p[i] /= h; kk += v[i] * p[i]; }
        kk /= 2 * h;
        for (int i = 0; i < m; i++) p[i] -= kk * v[i];
        for (int i = 0; i < m; i++) {
            double *row = a + (int64_t)(k + 1 + i) * n + k + 1;
            const double vi = v[i], pi = p[i];
            for (int j = i; j < m; j++) row[j] -= vi * p[j] + pi * v[j];
        }
    }
    if (n >= 2) {
        d[n - 2] = a[(int64_t)(n - 2) * n + n - 2];
        e[n - 2] = a[(int64_t)(n - 2) * n + n - 1];
    }
    d[n - 1] = a[(int64_t)(n - 1) * n + n - 1];
}

// The two triangles of the (n, n) matrix a averaged, then a divided by its largest |entry| (returned: 0 for a zero
// matrix, which is left as it is; not finite when an entry is not).
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
double loratop_symmetrize_scale(int32_t n, double *a) {
    double top = 0;
    int finite = 1;
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            const double v = 0.5 * (a[(int64_t)i * n + j] + a[(int64_t)j * n + i]);
            a[(int64_t)i * n + j] = v;
            a[(int64_t)j * n + i] = v;
            finite &= isfinite(v) != 0;
            top = fabs(v) > top ? fabs(v) : top;
        }
    if (!finite) return NAN;
    if (top == 0) return 0;
    for (int64_t i = 0; i < (int64_t)n * n; i++) a[i] /= top;
    return top;
}
