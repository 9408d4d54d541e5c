// backend.h — the few storage-level hooks the engine needs from the CUDA runtime.
// Built without CUDA (EMBER_CUDA=OFF), engine/backend_nocuda.cpp implements them by throwing
// a clear error, so a CPU-only build links and says why a CUDA tensor cannot be made.
#pragma once

#include <cstddef>

#include "engine/tensor.h"

namespace ember::backend {

bool cuda_available();                      // built with CUDA and a device is present
void* cuda_alloc(size_t nbytes, Device d);  // through the caching allocator
void cuda_free(void* p, Device d);
void cuda_copy(Tensor& dst, const Tensor& src);  // any pair of devices with one on CUDA
void cuda_fill(Tensor& t, double value);

}  // namespace ember::backend
