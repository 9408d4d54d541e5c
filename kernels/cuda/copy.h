// kernels/cuda/copy.h — strided copy with dtype conversion, and strided fill, on the GPU.
// What copy_ and fill_ (engine/tensor.cpp) run for CUDA tensors, through engine/backend_cuda.cu.
//
// Conversions match the CPU's cpu::convert (kernels/cpu/strided.h) exactly: bfloat16 goes
// through float with round-to-nearest-even, float -> integer truncates (C++ static_cast).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "engine/dtype.h"

namespace ember::cuda {

// dst[shape] = convert(src[shape]); strides in elements, any (0 allowed in src); both on the
// current device. Dims are merged where possible; at most 8 may remain.
void copy_strided(void* dst, DType dst_dtype, const int64_t* dst_strides, const void* src, DType src_dtype,
                  const int64_t* src_strides, const int64_t* shape, int64_t ndim, cudaStream_t stream);

// dst[shape] = value, where `bits` holds the value's bit pattern as one element of
// `elem_size` bytes (2, 4 or 8), already converted to the tensor's dtype on the host.
void fill_strided(void* dst, size_t elem_size, uint64_t bits, const int64_t* strides, const int64_t* shape,
                  int64_t ndim, cudaStream_t stream);

}  // namespace ember::cuda
