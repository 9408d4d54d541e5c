// kernels/cpu/gemm_dnnl.h — float32 GEMM through oneDNN's sgemm, the fast path cpu::gemm<float>
// takes when ember was built with oneDNN and EMBER_DNNL is not "0" (gemm_dnnl.cpp says why).
#pragma once

#include <cstdint>

namespace ember::cpu {

// float32 GEMMs go through oneDNN now: built with it and EMBER_DNNL not "0" (read on every call,
// so a test or a benchmark can switch within one process).
bool gemm_uses_dnnl();

// dnnl_sgemm on row-major operands, the arguments of cpu::gemm; false when ember was built
// without oneDNN or oneDNN refused the arguments (the caller then falls back to OpenBLAS).
bool dnnl_sgemm_rowmajor(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace ember::cpu
