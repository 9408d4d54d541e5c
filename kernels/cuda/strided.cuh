// kernels/cuda/strided.cuh — element offsets for K operands that share one shape, for the
// kernels that accept views (strided copy, fill, broadcast pointwise). Included by .cu files.
//
// make_indexer (host) first simplifies the layout: size-1 dims are dropped and neighbouring
// dims merged wherever every operand is contiguous across them. A transposed matrix stays
// 2-D, a broadcast row (stride 0) stays 2-D, and a dense tensor of any rank becomes 1-D,
// whose offsets need no division at all. Up to kMaxDims dims remain after that.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "engine/error.h"

namespace ember::cuda {

constexpr int kMaxDims = 8;

template <int K>
struct StridedIndexer {
  int ndim = 0;                     // 0: a single element at offset 0
  int64_t shape[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};

  // off[k] = offset (in elements) in operand k of the element with row-major index i.
  __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[K]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) off[k] = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 1; --d) {
      if (d < ndim) {
        int64_t q = i / shape[d];
        int64_t r = i - q * shape[d];
        i = q;
#pragma unroll
        for (int k = 0; k < K; ++k) off[k] += r * strides[k][d];
      }
    }
    if (ndim > 0) {  // the outermost dim takes what is left: no division
#pragma unroll
      for (int k = 0; k < K; ++k) off[k] += i * strides[k][0];
    }
  }
};

// Layout of K operands of shape `shape` (ndim dims, any count) with the given strides in
// elements, simplified as described above. `what` names the caller in the error for layouts
// that keep more than kMaxDims dims.
template <int K>
StridedIndexer<K> make_indexer(const int64_t* shape, int64_t ndim, const std::array<const int64_t*, K>& strides,
                               const char* what) {
  std::vector<int64_t> sh;
  std::array<std::vector<int64_t>, K> st;
  for (int64_t d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sh.empty();
    for (int k = 0; k < K && merge; ++k) merge = st[k].back() == strides[k][d] * shape[d];
    if (merge) {  // the outer dim steps exactly over this one in every operand
      sh.back() *= shape[d];
      for (int k = 0; k < K; ++k) st[k].back() = strides[k][d];
    } else {
      sh.push_back(shape[d]);
      for (int k = 0; k < K; ++k) st[k].push_back(strides[k][d]);
    }
  }
  EMBER_CHECK(sh.size() <= static_cast<size_t>(kMaxDims), what, ": a layout with ", sh.size(),
              " non-mergeable dims exceeds the CUDA kernels' limit of ", kMaxDims, " (shape ",
              std::vector<int64_t>(shape, shape + ndim), "); make the tensor contiguous first");
  StridedIndexer<K> ix;
  ix.ndim = static_cast<int>(sh.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.shape[d] = sh[d];
    for (int k = 0; k < K; ++k) ix.strides[k][d] = st[k][d];
  }
  return ix;
}

// True when every operand is dense row-major: the indexer is 1-D with unit strides, or empty.
template <int K>
bool all_contiguous(const StridedIndexer<K>& ix) {
  if (ix.ndim == 0) return true;
  if (ix.ndim != 1) return false;
  for (int k = 0; k < K; ++k)
    if (ix.strides[k][0] != 1) return false;
  return true;
}

}  // namespace ember::cuda
