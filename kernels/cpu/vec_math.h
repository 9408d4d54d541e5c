// kernels/cpu/vec_math.h — an exp the compiler can vectorise, for the softmax-family kernels.
//
// glibc's expf is a scalar call per element; over Q2's 33,278-way softmax it was a third of
// the training step. exp_fast is Cephes' expf written as straight-line arithmetic (no calls,
// no branches), so `#pragma omp simd` loops turn it into SIMD code:
//   exp(x) = 2^n · exp(r),  n = round(x·log2 e),  r = x − n·ln2 (Cody–Waite split),
//   exp(r) ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2.
// Accuracy: within 2 ulp of the exact value over the float range (tests/test_softmax_index.cpp
// checks against double exp); exp_fast(x) = 0 below −87.3 (as expf's result underflows) and
// the input is clamped at 88.7 (softmax inputs are ≤ 0 after the max is subtracted).
// Double keeps std::exp: the float64 reference path stays exact.
#pragma once

#include <cmath>
#include <cstdint>
#include <algorithm>

namespace ember::cpu {

inline float exp_fast(float x) {
  const float lo = -87.3365447f, hi = 88.7228394f;
  float xc = std::min(std::max(x, lo), hi);
  // round to nearest by the 1.5·2²³ trick: std::floor is a libm call on baseline x86-64
  // (no SSE4.1) and would stop vectorisation. Exact for |x·log2 e| < 2²².
  const float magic = 12582912.0f;
  float n = (xc * 1.44269504088896341f + magic) - magic;
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float e = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale = __builtin_bit_cast(float, bits);  // std::bit_cast in C++20; memcpy does not vectorise
  float y = e * scale;
  return x < lo ? 0.0f : y;
}

// erf for float GELU, vectorisable: Abramowitz & Stegun 7.1.26,
//   erf(|x|) ≈ 1 − (a1·t + a2·t² + a3·t³ + a4·t⁴ + a5·t⁵)·exp(−x²),  t = 1/(1 + p·|x|),
// with absolute error ≤ 1.5e-7 (about one float ulp at 1), odd in x. GELU = 0.5·x·(1 + erf(x/√2))
// so its relative error stays ≤ ~2e-7 wherever |GELU(x)| is not already below 1e-7·|x|.
// Double keeps std::erf (the float64 reference path is exact).
inline float erf_fast(float x) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_fast(-ax * ax);
  return x < 0.0f ? -y : y;
}

template <class T>
inline T exp_k(T x) { return std::exp(x); }
template <>
inline float exp_k<float>(float x) { return exp_fast(x); }

}  // namespace ember::cpu
