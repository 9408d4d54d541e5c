// kernels/cpu/gemm.cpp — see gemm.h; float32 first tries oneDNN (gemm_dnnl.h), float64 never does.
#include "kernels/cpu/gemm.h"

#include "kernels/cpu/gemm_dnnl.h"

#include <algorithm>
#include <vector>

#ifdef EMBER_HAVE_BLAS
#include <cblas.h>
#endif

namespace ember::cpu {

namespace {

// The fallback: C = beta·C, then C += alpha·op(A)·op(B) with an i-k-j loop over 64-row
// blocks (the inner j loop streams rows of B and C).
template <class T>
void gemm_plain(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                int64_t ldb, T beta, T* C, int64_t ldc) {
#pragma omp parallel for if (M * N * K > (1 << 18)) schedule(static)
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int64_t k = 0; k < K; ++k) {
      T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
      if (a == T(0)) continue;
      if (!tb) {
        const T* b = B + k * ldb;
        for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
      } else {
        for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * ldb + k];
      }
    }
  }
}

}  // namespace

bool gemm_uses_blas() {
#ifdef EMBER_HAVE_BLAS
  return true;
#else
  return false;
#endif
}

template <>
void gemm<float>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K > 0 && gemm_uses_dnnl() && dnnl_sgemm_rowmajor(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)) return;
#ifdef EMBER_HAVE_BLAS
  if (K > 0) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
                static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb),
                beta, C, static_cast<int>(ldc));
    return;
  }
#endif
  gemm_plain(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
#ifdef EMBER_HAVE_BLAS
  if (K > 0) {
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
                static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B, static_cast<int>(ldb),
                beta, C, static_cast<int>(ldc));
    return;
  }
#endif
  gemm_plain(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace ember::cpu
