// tests/test_gemm.cpp — cpu::gemm<float> on every path it can take (oneDNN's sgemm, OpenBLAS,
// the plain loop when neither was built) against a float64 triple loop: both transposes, padded
// leading dimensions, alpha ≠ 1, beta = 0 over a C full of NaN (BLAS semantics: C is not read)
// and beta ≠ 0, K = 0, and shapes from 1×1×1 to the LSTM step's 20×800×200.
//
// Tolerance (float32 vs the float64 loop), per product:
//   max |f32 − f64| ≤ 1e-4 · (1 + max |f64|)
// Inputs are in [−1, 1] and K ≤ 300, so the float32 rounding error (≈ √K · 6e-8 · Σ|a·b|) is orders
// below that; the bound is the one tests/test_conv_dnnl.cpp states, not tuned.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/conv_dnnl.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_dnnl.h"
#include "tests/scoped_env.h"

using namespace ember;

namespace {

struct GemmCase {
  int64_t M, N, K;
};

// C (M×N, row stride ldc) = alpha·op(A)·op(B) + beta·C in float64, from the float32 inputs.
std::vector<double> reference(bool ta, bool tb, const GemmCase& c, double alpha, const std::vector<float>& A,
                              int64_t lda, const std::vector<float>& B, int64_t ldb, double beta,
                              const std::vector<float>& C0, int64_t ldc) {
  std::vector<double> C(static_cast<size_t>(c.M * ldc));
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        const double a = ta ? A[k * lda + i] : A[i * lda + k];
        const double b = tb ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
      }
      C[i * ldc + j] = alpha * s + (beta == 0 ? 0.0 : beta * double(C0[i * ldc + j]));
    }
  return C;
}

void check_all_cases() {
  const GemmCase cases[] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {20, 800, 200}, {64, 48, 300}, {4, 6, 0}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (const GemmCase& c : cases)
    for (int t = 0; t < 4; ++t)
      for (double beta : {0.0, 0.5}) {
        const bool ta = t & 1, tb = t & 2;
        const double alpha = (t == 3) ? -0.75 : 1.0;
        // Stored shapes, each row padded by 3 elements (lda > the logical width).
        const int64_t a_rows = ta ? c.K : c.M, a_cols = ta ? c.M : c.K;
        const int64_t b_rows = tb ? c.N : c.K, b_cols = tb ? c.K : c.N;
        const int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = c.N + 3;
        std::vector<float> A(static_cast<size_t>(std::max<int64_t>(a_rows, 1) * lda)),
            B(static_cast<size_t>(std::max<int64_t>(b_rows, 1) * ldb)), C(static_cast<size_t>(c.M * ldc));
        for (float& x : A) x = u(rng);
        for (float& x : B) x = u(rng);
        for (float& x : C) x = beta == 0 ? std::numeric_limits<float>::quiet_NaN() : u(rng);
        const std::vector<double> want = reference(ta, tb, c, alpha, A, lda, B, ldb, beta, C, ldc);
        cpu::gemm<float>(ta, tb, c.M, c.N, c.K, float(alpha), A.data(), lda, B.data(), ldb, float(beta), C.data(),
                         ldc);
        double max_ref = 0, max_err = 0;
        for (int64_t i = 0; i < c.M; ++i)
          for (int64_t j = 0; j < c.N; ++j) {
            const double w = want[i * ldc + j], g = C[i * ldc + j];
            max_ref = std::max(max_ref, std::fabs(w));
            max_err = std::isfinite(g) ? std::max(max_err, std::fabs(g - w)) : std::numeric_limits<double>::infinity();
          }
        INFO("M=" << c.M << " N=" << c.N << " K=" << c.K << " ta=" << ta << " tb=" << tb << " alpha=" << alpha
                  << " beta=" << beta << ": max |f32 - f64| = " << max_err << ", max |f64| = " << max_ref);
        CHECK(max_err <= 1e-4 * (1 + max_ref));
      }
}

}  // namespace

TEST_CASE("gemm float32 through oneDNN (the default where ember has it) matches a float64 loop") {
  test::ScopedDnnlEnv env(nullptr);
  CHECK(cpu::gemm_uses_dnnl() == cpu::dnnl_conv_available());
  check_all_cases();
}

TEST_CASE("gemm float32 with EMBER_DNNL=0 (OpenBLAS, or the plain loop) matches a float64 loop") {
  test::ScopedDnnlEnv env("0");
  CHECK_FALSE(cpu::gemm_uses_dnnl());
  check_all_cases();
}
