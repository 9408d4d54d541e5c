// kernels/cuda/runtime.cu — device discovery, streams, launch sizes and transfers
// (kernels/cuda/runtime.h). Host code only.
//
// Per-device state (stream, SM count, staging buffers) is created on first use and never
// destroyed: it lives until the process exits, and destroying CUDA objects from static
// destructors races the runtime's own teardown.
#include "kernels/cuda/runtime.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

namespace ember::cuda {

void fail(cudaError_t err, const char* stmt, const char* func, const char* file, int line) {
  cudaGetLastError();  // reset the non-sticky error slot so later launch checks stay truthful
  ::ember::detail::fail(file, line,
                        ::ember::detail::str("CUDA error: ", stmt, " failed: ", cudaGetErrorName(err), " (",
                                             cudaGetErrorString(err), ") in ", func));
}

// ---------------- devices ----------------
namespace {

struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      cudaGetLastError();
      r.reason = ::ember::detail::str("cudaGetDeviceCount: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
    } else if (n == 0) {
      r.reason = "cudaGetDeviceCount: 0 devices";
    } else {
      r.count = n;
    }
    return r;
  }();
  return d;
}

// What each device needs, made once on first use.
struct DeviceState {
  std::once_flag once;
  cudaStream_t stream = nullptr;
  int sm_count = 0;

  // Host->device staging: two pinned buffers used in turn, each with the event that marks
  // the end of the last transfer out of it.
  std::mutex staging_mu;
  void* staging[2] = {nullptr, nullptr};
  size_t staging_cap[2] = {0, 0};
  cudaEvent_t staging_done[2] = {nullptr, nullptr};
  int staging_next = 0;
};

DeviceState& state(int device) {
  static std::vector<DeviceState>* states = new std::vector<DeviceState>(static_cast<size_t>(device_count()));
  check_device(device, "ember::cuda");
  DeviceState& s = (*states)[static_cast<size_t>(device)];
  std::call_once(s.once, [&] {
    DeviceGuard g(device);
    EMBER_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&s.sm_count, cudaDevAttrMultiProcessorCount, device));
    for (auto& e : s.staging_done) EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  });
  return s;
}

}  // namespace

int device_count() { return discovery().count; }
const std::string& unavailable_reason() { return discovery().reason; }

void check_device(int device, const char* what) {
  EMBER_CHECK(device_count() > 0, what, ": no CUDA device is available (", unavailable_reason(), ")");
  EMBER_CHECK(device >= 0 && device < device_count(), what, ": cuda:", device, " does not exist (", device_count(),
              " device(s) present)");
}

DeviceGuard::DeviceGuard(int device) : device_(device) {
  EMBER_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device_) EMBER_CUDA_CHECK(cudaSetDevice(device_));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ != device_ && previous_ >= 0) cudaSetDevice(previous_);  // no throw from a destructor
}

cudaStream_t stream(int device) { return state(device).stream; }

void synchronize(int device) { EMBER_CUDA_CHECK(cudaStreamSynchronize(stream(device))); }

int grid_size(int64_t n, int block) {
  int device = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&device));
  int64_t cap = static_cast<int64_t>(state(device).sm_count) * 32;  // 32 blocks of 256 = 4 waves of 2048 threads per SM
  int64_t need = (n + block - 1) / block;
  return static_cast<int>(std::max<int64_t>(1, std::min(need, cap)));
}

// ---------------- transfers ----------------
namespace {
constexpr size_t kStagingChunk = size_t(32) << 20;  // larger copies go in 32 MiB pieces
constexpr size_t kStagingMin = size_t(1) << 20;     // first buffer: 1 MiB, then doubled
}  // namespace

void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceState& s = state(device);
  DeviceGuard g(device);
  std::lock_guard<std::mutex> lock(s.staging_mu);
  for (size_t off = 0; off < nbytes; off += kStagingChunk) {
    size_t n = std::min(kStagingChunk, nbytes - off);
    int b = s.staging_next;
    s.staging_next ^= 1;
    // The last transfer out of this buffer must be over before the host overwrites it.
    EMBER_CUDA_CHECK(cudaEventSynchronize(s.staging_done[b]));
    if (s.staging_cap[b] < n) {
      size_t cap = std::min(kStagingChunk, std::max({n, kStagingMin, 2 * s.staging_cap[b]}));
      if (s.staging[b]) EMBER_CUDA_CHECK(cudaFreeHost(s.staging[b]));
      s.staging[b] = nullptr;
      s.staging_cap[b] = 0;
      EMBER_CUDA_CHECK(cudaMallocHost(&s.staging[b], cap));
      s.staging_cap[b] = cap;
    }
    std::memcpy(s.staging[b], static_cast<const char*>(src) + off, n);
    EMBER_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, s.staging[b], n, cudaMemcpyHostToDevice, s.stream));
    EMBER_CUDA_CHECK(cudaEventRecord(s.staging_done[b], s.stream));
  }
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  cudaStream_t st = stream(device);
  DeviceGuard g(device);
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, st));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(st));
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  cudaStream_t st = stream(device);
  DeviceGuard g(device);
  EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, st));
}

}  // namespace ember::cuda
