// kernels/cpu/gemm.h — C = alpha·op(A)·op(B) + beta·C, row-major, for float and double.
// op(X) = X or Xᵀ. float32 goes through oneDNN's sgemm when ember was built with oneDNN and
// EMBER_DNNL is not "0" (kernels/cpu/gemm_dnnl.cpp says why); otherwise, and float64 always,
// through OpenBLAS's cblas when ember was built with it (EMBER_HAVE_BLAS), else a cache-blocked
// loop split over the cores with OpenMP.
#pragma once

#include <cstdint>

namespace ember::cpu {

// A is (M×K) if !trans_a else stored (K×M); B is (K×N) if !trans_b else stored (N×K).
// lda/ldb/ldc: row strides in elements of the matrices as stored.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

bool gemm_uses_blas();

}  // namespace ember::cpu
