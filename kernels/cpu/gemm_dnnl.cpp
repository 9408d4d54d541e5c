// kernels/cpu/gemm_dnnl.cpp — float32 GEMM through oneDNN's dnnl_sgemm (see gemm_dnnl.h).
//
// Why a second BLAS for float32: OpenBLAS 0.3.21 (Debian 12) picks its kernels by CPU model,
// and on this project's AMD EPYC with AVX-512 it picks "Haswell" (AVX2) kernels — the 1024³
// sgemm runs at ~180–210 GFLOP/s. oneDNN's sgemm is JIT-compiled for the ISA the CPU reports
// (AVX-512 here) and ran at ~330–430 GFLOP/s on the shapes ember uses (1024³, BERT's
// 4096×384·384×1536, the LM decoder 700×200·200×33278, conv im2col), 1.4–2.3× OpenBLAS's
// choice; OpenBLAS forced to its SkylakeX kernels (OPENBLAS_CORETYPE=SkylakeX) got close but not
// past it (measured 2026-12-02 on this 2-core machine, /tmp scratch program, best of 5).
// float64 stays on OpenBLAS: it is the reference the tests use.
//
// Row-major, same argument convention as cblas_sgemm(CblasRowMajor, …). Threading: Debian's
// libdnnl runs on OpenMP (libgomp), the pool ember's own loops use; called inside a parallel
// region (attention's one-head-per-thread loop) it runs on the calling thread alone.
#include "kernels/cpu/conv_dnnl.h"
#include "kernels/cpu/gemm_dnnl.h"

#ifdef EMBER_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

namespace ember::cpu {

bool gemm_uses_dnnl() { return dnnl_conv_enabled(); }

bool dnnl_sgemm_rowmajor(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#ifdef EMBER_HAVE_DNNL
  return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == dnnl_success;
#else
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  return false;
#endif
}

}  // namespace ember::cpu
