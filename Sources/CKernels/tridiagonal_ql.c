#include "CKernels.h"
#include <float.h>
#include <math.h>
#include <string.h>

// Eigenvalues of several symmetric tridiagonal matrices at once, by the root-free implicit QL iteration of Pal, Walker
// and Kahan that LAPACK's dsterf uses (same splitting, convergence test, Wilkinson-type shift and 2 × 2 blocks).
//
// One QL sweep is a chain of dependent divisions (c = p / r, s = e / r, p = γ² / c), so a single matrix runs at the
// divider's latency. The sweeps of up to LORATOP_QL_BATCH matrices are interleaved rotation by rotation: the chains are
// independent, so the core overlaps them and runs at the divider's throughput instead. Everything but the sweeps (the
// splitting and the bookkeeping between sweeps) is done one matrix at a time.
//
// A block whose last diagonal entry is smaller in magnitude than its first is reversed before iterating, which is
// what dsterf's choice between QL and QR does (eigenvalues converge from the larger end); the order of the values is
// not kept (the caller sorts). The input is expected scaled to entries of order 1 (the caller divides by the largest),
// so dsterf's rescaling of the block is not needed.

enum { MAX_SWEEPS_PER_VALUE = 30 };

typedef struct {
    double *d, *e;      // diagonal (n) and off-diagonal (n − 1; squared inside a block)
    int n;
    int next;           // first row of the next block
    int l, lend;        // the current block's unconverged part [l, lend], when inBlock
    int inBlock;
    int sweeps, maxSweeps;
    int m;              // the sweep runs from m − 1 down to l
    double sigma;       // its shift
} ql_state;

// The eigenvalues of [[a, b], [b, c]] (LAPACK's dlae2).
static void eig2(double a, double b, double c, double *rt1, double *rt2) {
    const double sm = a + c, df = a - c, adf = fabs(df), tb = b + b, ab = fabs(tb);
    const double acmx = fabs(a) > fabs(c) ? a : c, acmn = fabs(a) > fabs(c) ? c : a;
    double rt;
    if (adf > ab) rt = adf * sqrt(1 + (ab / adf) * (ab / adf));
    else if (adf < ab) rt = ab * sqrt(1 + (adf / ab) * (adf / ab));
    else rt = ab * sqrt(2.0);
    if (sm != 0) {
        *rt1 = 0.5 * (sm < 0 ? sm - rt : sm + rt);
        *rt2 = (acmx / *rt1) * acmn - (b / *rt1) * b;
    } else {
        *rt1 = 0.5 * rt;
        *rt2 = -0.5 * rt;
    }
}

// Runs q's bookkeeping until it needs a sweep (returns 1, with m and sigma set) or has all its eigenvalues in d
// (returns 0); -1 when it did not converge.
static int advance(ql_state *q) {
    const double eps = DBL_EPSILON / 2, eps2 = eps * eps;
    double *d = q->d, *e = q->e;
    for (;;) {
        if (!q->inBlock) {
            if (q->next >= q->n) return 0;
            int l = q->next, m = l;
            for (; m < q->n - 1; m++) {  // the block ends where the coupling is negligible
                const double t = fabs(e[m]);
                if (t == 0) break;
                if (t <= sqrt(fabs(d[m])) * sqrt(fabs(d[m + 1])) * eps) { e[m] = 0; break; }
            }
            q->next = m + 1;
            if (m == l) continue;  // a 1 × 1 block is its eigenvalue
            if (fabs(d[m]) < fabs(d[l])) {  // iterate from the larger end
                for (int i = l, j = m; i < j; i++, j--) { const double t = d[i]; d[i] = d[j]; d[j] = t; }
                for (int i = l, j = m - 1; i < j; i++, j--) { const double t = e[i]; e[i] = e[j]; e[j] = t; }
            }
            for (int i = l; i < m; i++) e[i] *= e[i];
            q->l = l; q->lend = m; q->inBlock = 1;
        }
        const int l = q->l, lend = q->lend;
        if (l > lend) { q->inBlock = 0; continue; }
        int m = lend;
        for (int i = l; i < lend; i++)
            if (fabs(e[i]) <= eps2 * fabs(d[i] * d[i + 1])) { m = i; break; }
        if (m < lend) e[m] = 0;
        if (m == l) { q->l = l + 1; continue; }  // d[l] has converged
        if (m == l + 1) {
            double rt1, rt2;
            eig2(d[l], sqrt(e[l]), d[l + 1], &rt1, &rt2);
            d[l] = rt1; d[l + 1] = rt2; e[l] = 0;
            q->l = l + 2;
            continue;
        }
        if (q->sweeps == q->maxSweeps) return -1;
        q->sweeps++;
        const double p = d[l], rte = sqrt(e[l]);
        double sigma = (d[l + 1] - p) / (2 * rte);
        const double r = hypot(sigma, 1.0);
        sigma = p - rte / (sigma + copysign(r, sigma));
        q->m = m;
        q->sigma = sigma;
        return 1;
    }
}

int loratop_tridiagonal_eigenvalues(int32_t count, const int32_t *n, double *const *d, double *const *e) {
    if (count < 0 || count > LORATOP_QL_BATCH) return -1;
    ql_state q[LORATOP_QL_BATCH];
    int active[LORATOP_QL_BATCH], na = 0;
    for (int k = 0; k < count; k++) {
        if (n[k] < 0) return -1;
        q[k] = (ql_state){ .d = d[k], .e = e[k], .n = n[k], .maxSweeps = MAX_SWEEPS_PER_VALUE * (n[k] > 0 ? n[k] : 1) };
        active[na++] = k;
    }
    while (na > 0) {
        // bookkeeping: each matrix up to its next sweep; the finished ones leave
        int sweeping[LORATOP_QL_BATCH], ns = 0;
        for (int a = 0; a < na; a++) {
            const int status = advance(&q[active[a]]);
            if (status < 0) return -1;
            if (status > 0) sweeping[ns++] = active[a];
        }
        // the sweeps, one rotation of each in turn
        double c[LORATOP_QL_BATCH], s[LORATOP_QL_BATCH], gamma[LORATOP_QL_BATCH], p[LORATOP_QL_BATCH];
        int i[LORATOP_QL_BATCH], lo[LORATOP_QL_BATCH], top[LORATOP_QL_BATCH], left = ns;
        for (int a = 0; a < ns; a++) {
            const ql_state *t = &q[sweeping[a]];
            c[a] = 1; s[a] = 0;
            gamma[a] = t->d[t->m] - t->sigma;
            p[a] = gamma[a] * gamma[a];
            i[a] = t->m - 1; lo[a] = t->l; top[a] = t->m - 1;
        }
        while (left > 0) {
            for (int a = 0; a < ns; a++) {
                if (i[a] < lo[a]) continue;
                const ql_state *t = &q[sweeping[a]];
                double *dd = t->d, *ee = t->e;
                const int ii = i[a];
                const double bb = ee[ii], r = p[a] + bb;
                if (ii != top[a]) ee[ii + 1] = s[a] * r;
                const double oldc = c[a], oldgam = gamma[a], alpha = dd[ii];
                c[a] = p[a] / r;
                s[a] = bb / r;
                gamma[a] = c[a] * (alpha - t->sigma) - s[a] * oldgam;
                dd[ii + 1] = oldgam + (alpha - gamma[a]);
                p[a] = c[a] != 0 ? (gamma[a] * gamma[a]) / c[a] : oldc * bb;
                if (--i[a] < lo[a]) {
                    ee[t->l] = s[a] * p[a];
                    dd[t->l] = t->sigma + gamma[a];
                    left--;
                }
            }
        }
        na = 0;
        for (int a = 0; a < ns; a++) active[na++] = sweeping[a];
        // a matrix that needed no sweep this round is done (advance returned 0)
    }
    return 0;
}
