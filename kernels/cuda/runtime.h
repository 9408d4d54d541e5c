// kernels/cuda/runtime.h — the CUDA runtime as ember uses it: the checking macros, device
// discovery that never throws, one stream per device, a device guard, launch sizes, and
// host<->device transfers (host->device through a pinned staging buffer).
//
// Plain C++ (no device code), so engine/ and tests/ include it from .cpp files.
//
// Ordering model: every ember kernel and copy on device d runs on stream(d), so work is
// ordered by issue order. That is what lets the caching allocator hand a freed block to the
// next op at once, and what makes a host-side read safe after copy_device_to_host returns.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace ember::cuda {

// Throws ember::Error: "<stmt> failed: cudaErrorX (description) in <func> (file:line)".
// Clears the runtime's last-error slot first, so a later launch check does not report it again.
[[noreturn]] void fail(cudaError_t err, const char* stmt, const char* func, const char* file, int line);

}  // namespace ember::cuda

// Every CUDA runtime call goes through this.
#define EMBER_CUDA_CHECK(stmt)                                                        \
  do {                                                                                \
    cudaError_t ember_cuda_err_ = (stmt);                                             \
    if (ember_cuda_err_ != cudaSuccess)                                               \
      ::ember::cuda::fail(ember_cuda_err_, #stmt, __func__, __FILE__, __LINE__);      \
  } while (0)

// After every kernel launch: a bad configuration or a missing kernel image shows up here,
// at the launch that caused it, instead of at some later unrelated call.
#define EMBER_CUDA_LAUNCH_CHECK() EMBER_CUDA_CHECK(cudaGetLastError())

namespace ember::cuda {

// ---- devices ----
// Number of usable devices; 0 when there is no driver or no device (cudaGetDeviceCount's
// error is caught and kept, never thrown). Queried once per process.
int device_count();
// Why device_count() is 0 ("cudaGetDeviceCount: cudaErrorNoDevice (no CUDA-capable device is
// detected)"); empty when a device is present.
const std::string& unavailable_reason();
// Throws a clear ember::Error unless `device` names a present device; `what` names the caller.
void check_device(int device, const char* what);

// Makes `device` current for the guard's lifetime (no runtime call when it already is).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  int device_ = -1;
};

// The one stream of `device`: created on first use (non-blocking), kept for the process.
cudaStream_t stream(int device);
void synchronize(int device);  // waits for everything issued on stream(device)

// ---- launch sizes ----
constexpr int kBlockSize = 256;
// Blocks for a grid-stride loop over n elements on the current device: enough to fill every
// SM several times over, never more than the elements need. At least 1.
int grid_size(int64_t n, int block = kBlockSize);

// ---- transfers ----
// dst (device memory on `device`) <- src (any host memory). The bytes are copied into a
// pinned staging buffer (reused; grown as needed; double-buffered in chunks for large copies),
// then sent with cudaMemcpyAsync on stream(device): the call returns before the transfer ends,
// and src may be freed or changed as soon as it returns.
void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device);
// dst (host) <- src (device memory on `device`), ordered after all work on stream(device);
// returns when the bytes are in dst.
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device);
// dst <- src, both on `device`, async on its stream.
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device);

}  // namespace ember::cuda
