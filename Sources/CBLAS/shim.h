#include <cblas.h>
// LAPACK (shipped inside OpenBLAS): singular value decomposition for rank shrinking.
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
             double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
             int *iwork, int *info);
// LAPACK QR factorisation (rank shrinking works on the small factors only).
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
// LAPACK Cholesky factorisation (the update inspector's R_A from A's Gram matrix).
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
// LAPACK symmetric eigenvalues (the update inspector's core above LORATOP_TRIDIAGONAL_MAX).
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
            const int *lwork, int *info);
// Eigenvalues of a symmetric tridiagonal matrix (ascending, into d), root-free QL/QR (the update inspector's core).
void dsterf_(const int *n, double *d, double *e, int *info);
