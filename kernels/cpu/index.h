// kernels/cpu/index.h — index_select / embedding / gather forward, and the scatter-adds that are
// their backward, on raw pointers (any element type T, int32 or int64 indices I).
//
// index_select reads a contiguous tensor as (outer, n, inner) and picks k of the n slices;
// embedding is the same with outer = 1 (weight (num, dim) as (1, num, dim)). gather walks the
// index tensor's shape with per-operand strides (kernels/cpu/strided.h). The scatter-adds
// accumulate (+=) so repeated indices sum their gradients; they run serially over the picked
// slices for the same reason (two picks of one row must not race).
// Index values are checked by the engine (first_out_of_range) before any kernel reads them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/cpu/strided.h"

namespace ember::cpu {

// Position of the first index outside [0, size) — other than *allowed when given — or −1.
template <class I>
int64_t first_out_of_range(const I* index, int64_t n, int64_t size, const int64_t* allowed = nullptr) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = static_cast<int64_t>(index[i]);
    if ((v < 0 || v >= size) && !(allowed && v == *allowed)) return i;
  }
  return -1;
}

// out (outer, k, inner) = in (outer, n, inner) at slices index[0..k) of the middle dim.
template <class T, class I>
void index_select_forward(T* out, const T* in, const I* index, int64_t outer, int64_t n, int64_t k,
                          int64_t inner) {
#pragma omp parallel for if (outer * k * inner > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < outer * k; ++r) {
    const int64_t o = r / k, j = r % k;
    const T* src = in + (o * n + static_cast<int64_t>(index[j])) * inner;
    std::copy(src, src + inner, out + r * inner);
  }
}

// gx (outer, n, inner) += g (outer, k, inner) scattered to slices index[0..k); a slice whose
// index equals `skip` (embedding's padding_idx; pass −1 for none) gets nothing.
template <class T, class I>
void index_add(T* gx, const T* g, const I* index, int64_t outer, int64_t n, int64_t k, int64_t inner,
               int64_t skip = -1) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < k; ++j) {
      const int64_t idx = static_cast<int64_t>(index[j]);
      if (idx == skip) continue;
      T* dst = gx + (o * n + idx) * inner;
      const T* src = g + (o * k + j) * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
    }
  }
}

inline std::vector<int64_t> row_major_strides(const int64_t* shape, int64_t ndim) {
  std::vector<int64_t> s(static_cast<size_t>(ndim));
  int64_t step = 1;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    s[static_cast<size_t>(d)] = step;
    step *= shape[d];
  }
  return s;
}

// Strides of x with the gathered dim zeroed: the offset of x[i0.., index, ..] is
// walk offset + index · x_strides[dim].
inline std::vector<int64_t> strides_without(const int64_t* strides, int64_t ndim, int64_t dim) {
  std::vector<int64_t> s(strides, strides + ndim);
  s[static_cast<size_t>(dim)] = 0;
  return s;
}

// out (shape of index, contiguous) with out[p] = x[p with p[dim] replaced by index[p]].
// index is contiguous; x has any strides (in elements).
template <class T, class I>
void gather_forward(T* out, const T* x, const int64_t* x_strides, const I* index, const int64_t* index_shape,
                    int64_t ndim, int64_t dim) {
  std::vector<int64_t> idx_strides = row_major_strides(index_shape, ndim);
  std::vector<int64_t> xs = strides_without(x_strides, ndim, dim);
  const int64_t step = x_strides[dim];
  for_each_strided<2>(index_shape, ndim, {idx_strides.data(), xs.data()}, [&](const std::array<int64_t, 2>& o) {
    out[o[0]] = x[o[1] + static_cast<int64_t>(index[o[0]]) * step];
  });
}

// The backward of gather: gx[p with p[dim] replaced by index[p]] += g[p]. g and index are
// contiguous with index's shape; gx has strides gx_strides.
template <class T, class I>
void scatter_add(T* gx, const int64_t* gx_strides, const T* g, const I* index, const int64_t* index_shape,
                 int64_t ndim, int64_t dim) {
  std::vector<int64_t> idx_strides = row_major_strides(index_shape, ndim);
  std::vector<int64_t> xs = strides_without(gx_strides, ndim, dim);
  const int64_t step = gx_strides[dim];
  for_each_strided<2>(index_shape, ndim, {idx_strides.data(), xs.data()}, [&](const std::array<int64_t, 2>& o) {
    gx[o[1] + static_cast<int64_t>(index[o[0]]) * step] += g[o[0]];
  });
}

}  // namespace ember::cpu
