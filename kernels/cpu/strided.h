// kernels/cpu/strided.h — the N-d strided loop every CPU kernel that accepts views uses.
//
// for_each_strided<N>(shape, ndim, strides, f) visits every element of `shape` in row-major
// order and calls f(off) with off[k] = the element's offset in operand k (given operand k's
// strides, in elements; a broadcast dim has stride 0). The innermost dim runs as a plain
// loop, so contiguous data streams.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/dtype.h"

namespace ember::cpu {

template <size_t N, class F>
void for_each_strided(const int64_t* shape, int64_t ndim, const std::array<const int64_t*, N>& strides,
                      F&& f) {
  int64_t total = 1;
  for (int64_t d = 0; d < ndim; ++d) total *= shape[d];
  if (total == 0) return;
  std::array<int64_t, N> off{};
  if (ndim == 0) {
    f(off);
    return;
  }
  const int64_t last = ndim - 1, inner = shape[last];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = strides[k][last];
  std::vector<int64_t> idx(static_cast<size_t>(ndim), 0);
  for (;;) {
    std::array<int64_t, N> o = off;
    for (int64_t i = 0; i < inner; ++i) {
      f(o);
      for (size_t k = 0; k < N; ++k) o[k] += inner_stride[k];
    }
    int64_t d = last - 1;
    for (; d >= 0; --d) {
      ++idx[d];
      for (size_t k = 0; k < N; ++k) off[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// Value conversion between any two element types (bfloat16 goes through float).
template <class D, class S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<S, bfloat16>) {
    return static_cast<D>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<D, bfloat16>) {
    return bfloat16(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}

// dst[shape] = convert(src[shape]) for any strides.
template <class D, class S>
void copy_strided(D* dst, const int64_t* dst_strides, const S* src, const int64_t* src_strides,
                  const int64_t* shape, int64_t ndim) {
  for_each_strided<2>(shape, ndim, {dst_strides, src_strides},
                      [&](const std::array<int64_t, 2>& o) { dst[o[0]] = convert<D>(src[o[1]]); });
}

}  // namespace ember::cpu
