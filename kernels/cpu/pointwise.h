// kernels/cpu/pointwise.h — CPU loops for pointwise ops: out = f(a), f(a, b), f(a, b, c).
//
// `out` is contiguous with `shape`; each input comes with its own strides in that shape's
// index space (stride 0 on a broadcast dim). When every input is contiguous too, the loop is
// flat and split over the cores with OpenMP.
#pragma once

#include <array>
#include <cstdint>

#include "kernels/cpu/strided.h"

namespace ember::cpu {

constexpr int64_t kParallelGrain = 1 << 15;  // below this many elements one core is faster

inline bool is_contiguous_strides(const int64_t* shape, const int64_t* strides, int64_t ndim) {
  int64_t expected = 1;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    if (shape[d] != 1 && strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

template <class T, size_t N, class F>
void pointwise(T* out, const std::array<const T*, N>& in, const std::array<const int64_t*, N>& strides,
               const int64_t* shape, int64_t ndim, F f) {
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  bool flat = true;
  for (size_t k = 0; k < N; ++k) flat = flat && is_contiguous_strides(shape, strides[k], ndim);
  if (flat) {
#pragma omp parallel for if (n > kParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (N == 1) out[i] = f(in[0][i]);
      else if constexpr (N == 2) out[i] = f(in[0][i], in[1][i]);
      else out[i] = f(in[0][i], in[1][i], in[2][i]);
    }
    return;
  }
  std::array<const int64_t*, N + 1> all;
  std::vector<int64_t> out_strides(static_cast<size_t>(ndim));
  for (int64_t d = ndim - 1, acc = 1; d >= 0; --d) {
    out_strides[d] = acc;
    acc *= shape[d];
  }
  all[0] = out_strides.data();
  for (size_t k = 0; k < N; ++k) all[k + 1] = strides[k];
  for_each_strided<N + 1>(shape, ndim, all, [&](const std::array<int64_t, N + 1>& o) {
    if constexpr (N == 1) out[o[0]] = f(in[0][o[1]]);
    else if constexpr (N == 2) out[o[0]] = f(in[0][o[1]], in[1][o[2]]);
    else out[o[0]] = f(in[0][o[1]], in[1][o[2]], in[2][o[3]]);
  });
}

}  // namespace ember::cpu
