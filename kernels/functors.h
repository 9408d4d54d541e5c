// kernels/functors.h — the scalar functions of every pointwise op and of its backward rule,
// written once for both backends (EMBER_HD marks them __host__ __device__ under nvcc).
//
// Forward functors take the input(s); backward functors take (g, saved) and return the
// input gradient, so a backward rule is one fused pass: no temporaries per factor.
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define EMBER_HD __host__ __device__ __forceinline__
#else
#define EMBER_HD inline
#endif

#ifndef __CUDACC__
#include "kernels/cpu/vec_math.h"
#endif

namespace ember::fn {

// erf and exp as the pointwise functors use them: float on the CPU through the vectorisable
// kernels/cpu/vec_math.h versions, everything else (double, and any CUDA code) through libm.
EMBER_HD double erf_k(double x) { return std::erf(x); }
EMBER_HD double exp_fn(double x) { return std::exp(x); }
EMBER_HD float erf_k(float x) {
#ifdef __CUDACC__
  return erff(x);
#else
  return cpu::erf_fast(x);
#endif
}
EMBER_HD float exp_fn(float x) {
#ifdef __CUDACC__
  return expf(x);
#else
  return cpu::exp_fast(x);
#endif
}

// ---- binary ----
struct Add { template <class T> EMBER_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <class T> EMBER_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <class T> EMBER_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <class T> EMBER_HD T operator()(T a, T b) const { return a / b; } };
struct Pow { template <class T> EMBER_HD T operator()(T a, T b) const { return std::pow(a, b); } };
struct Maximum { template <class T> EMBER_HD T operator()(T a, T b) const { return a > b ? a : b; } };
struct Minimum { template <class T> EMBER_HD T operator()(T a, T b) const { return a < b ? a : b; } };
// Weight of a's gradient in max(a, b) / min(a, b): 1, 0, or ½ on a tie (PyTorch's rule).
struct MaxWeightA { template <class T> EMBER_HD T operator()(T a, T b) const { return a > b ? T(1) : (a == b ? T(0.5) : T(0)); } };
struct MinWeightA { template <class T> EMBER_HD T operator()(T a, T b) const { return a < b ? T(1) : (a == b ? T(0.5) : T(0)); } };

// ---- unary with a scalar ----
struct AddScalar { double s; template <class T> EMBER_HD T operator()(T a) const { return a + T(s); } };
struct MulScalar { double s; template <class T> EMBER_HD T operator()(T a) const { return a * T(s); } };
struct PowScalar { double e; template <class T> EMBER_HD T operator()(T a) const { return std::pow(a, T(e)); } };
struct Clamp {
  double lo, hi;
  template <class T> EMBER_HD T operator()(T a) const { return a < T(lo) ? T(lo) : (a > T(hi) ? T(hi) : a); }
};

// ---- unary ----
struct Neg { template <class T> EMBER_HD T operator()(T a) const { return -a; } };
struct Exp { template <class T> EMBER_HD T operator()(T a) const { return std::exp(a); } };
struct Log { template <class T> EMBER_HD T operator()(T a) const { return std::log(a); } };
struct Sqrt { template <class T> EMBER_HD T operator()(T a) const { return std::sqrt(a); } };
struct Rsqrt { template <class T> EMBER_HD T operator()(T a) const { return T(1) / std::sqrt(a); } };
struct Abs { template <class T> EMBER_HD T operator()(T a) const { return a < T(0) ? -a : a; } };
struct Tanh { template <class T> EMBER_HD T operator()(T a) const { return std::tanh(a); } };
struct Sigmoid { template <class T> EMBER_HD T operator()(T a) const { return T(1) / (T(1) + std::exp(-a)); } };
struct Relu { template <class T> EMBER_HD T operator()(T a) const { return a > T(0) ? a : T(0); } };
// Exact GELU: x·Φ(x), Φ the standard normal CDF.
struct Gelu {
  template <class T> EMBER_HD T operator()(T a) const { return T(0.5) * a * (T(1) + erf_k(a * T(0.70710678118654752440))); }
};

// ---- backward: (g, x) → dL/dx, or (g, y) with y the saved output ----
struct LogGrad { template <class T> EMBER_HD T operator()(T g, T x) const { return g / x; } };
struct SqrtGrad { template <class T> EMBER_HD T operator()(T g, T y) const { return g * T(0.5) / y; } };
struct RsqrtGrad { template <class T> EMBER_HD T operator()(T g, T y) const { return g * T(-0.5) * y * y * y; } };
struct AbsGrad { template <class T> EMBER_HD T operator()(T g, T x) const { return x > T(0) ? g : (x < T(0) ? -g : T(0)); } };
struct TanhGrad { template <class T> EMBER_HD T operator()(T g, T y) const { return g * (T(1) - y * y); } };
struct SigmoidGrad { template <class T> EMBER_HD T operator()(T g, T y) const { return g * y * (T(1) - y); } };
struct ReluGrad { template <class T> EMBER_HD T operator()(T g, T x) const { return x > T(0) ? g : T(0); } };
struct GeluGrad {
  template <class T> EMBER_HD T operator()(T g, T x) const {
    T cdf = T(0.5) * (T(1) + erf_k(x * T(0.70710678118654752440)));
    T pdf = T(0.39894228040143267794) * exp_fn(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};
struct ClampGrad {
  double lo, hi;
  template <class T> EMBER_HD T operator()(T g, T x) const { return (x >= T(lo) && x <= T(hi)) ? g : T(0); }
};
struct PowScalarGrad {
  double e;
  template <class T> EMBER_HD T operator()(T g, T x) const { return e == 0 ? T(0) : g * T(e) * std::pow(x, T(e - 1)); }
};

// ---- selection: where(c, a, b) and masked_fill ----
struct Select { template <class T> EMBER_HD T operator()(T c, T a, T b) const { return c != T(0) ? a : b; } };

}  // namespace ember::fn
