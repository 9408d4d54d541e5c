// kernels/cuda/pointwise.h — GPU loops for pointwise ops: out = f(a), f(a, b), f(a, b, c).
// The CUDA twin of kernels/cpu/pointwise.h, same arguments plus a stream.
//
// Plain C++ declarations: the definitions live in kernels/cuda/pointwise.cu, compiled by nvcc,
// which instantiates them for every (functor of kernels/functors.h, arity) pair the engine
// uses, for float and double. A new pair is one line in that file's list; forgetting it is a
// link error naming the functor, never a silent CPU fallback.
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace ember::cuda {

// out: contiguous, `shape` (ndim dims), on the current device. Input k is read with strides[k]
// in that shape's index space (0 on a broadcast dim). All inputs dense: one flat grid-stride
// loop; otherwise the layout is simplified (kernels/cuda/strided.cuh) and indexed per element.
template <class T, size_t N, class F>
void pointwise(T* out, const std::array<const T*, N>& in, const std::array<const int64_t*, N>& strides,
               const int64_t* shape, int64_t ndim, F f, cudaStream_t stream);

}  // namespace ember::cuda
