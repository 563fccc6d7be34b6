// The one place that knows how OpenBLAS's symbols are named in this build.
// The scipy-openblas32 wheel prefixes every symbol with `scipy_`; a system OpenBLAS does not.
#pragma once

#include <cblas.h>

#ifdef GPTCORE_BLAS_SCIPY
#define GPTCORE_CBLAS(name) scipy_cblas_##name
#define GPTCORE_OPENBLAS(name) scipy_openblas_##name
#else
#define GPTCORE_CBLAS(name) cblas_##name
#define GPTCORE_OPENBLAS(name) openblas_##name
#endif

namespace gptcore::blas {

// C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C, all row-major.
inline void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
    GPTCORE_CBLAS(sgemm)(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N,
                         K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// gptcore splits work across its own thread pool and calls OpenBLAS from each worker, so OpenBLAS itself
// must run single-threaded: two layers of threads on the same cores would oversubscribe them.
inline void set_num_threads(int n) { GPTCORE_OPENBLAS(set_num_threads)(n); }
inline int get_num_threads() { return GPTCORE_OPENBLAS(get_num_threads)(); }
inline const char* config() { return GPTCORE_OPENBLAS(get_config)(); }

}  // namespace gptcore::blas
