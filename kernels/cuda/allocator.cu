// kernels/cuda/allocator.cu — the caching device allocator (kernels/cuda/allocator.h).
// Host code only. One mutex guards everything: allocation is not on any hot inner loop.
#include "kernels/cuda/allocator.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/runtime.h"

namespace ember::cuda {

namespace {

constexpr size_t kSmallQuantum = 512;
constexpr size_t kLargeThreshold = size_t(1) << 20;
constexpr size_t kLargeQuantum = size_t(2) << 20;

struct Pool {
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  std::unordered_map<void*, size_t> live;                      // block -> rounded size
  MemoryStats stats;
};

struct Allocator {
  std::mutex mu;
  std::unordered_map<int, Pool> pools;  // by device index
};

// Never destroyed: Storages freed during static destruction still find it, and no cudaFree
// runs while the runtime is being torn down.
Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

std::string mib(size_t bytes) { return ::ember::detail::str(static_cast<double>(bytes) / (1 << 20), " MiB"); }

// Frees the pool's cached blocks (the caller holds the lock and has made `device` current).
void release_cached(Pool& pool) {
  for (auto& [size, blocks] : pool.free_blocks) {
    for (void* p : blocks) {
      EMBER_CUDA_CHECK(cudaFree(p));
      pool.stats.cached -= size;
      pool.stats.reserved -= size;
    }
  }
  pool.free_blocks.clear();
}

[[noreturn]] void out_of_memory(Pool& pool, size_t asked, size_t rounded, int device) {
  size_t free_b = 0, total_b = 0;
  cudaError_t err = cudaMemGetInfo(&free_b, &total_b);
  cudaGetLastError();
  std::string dev = err == cudaSuccess
                        ? ::ember::detail::str("the device has ", free_b, " bytes (", mib(free_b), ") free of ", total_b,
                                               " (", mib(total_b), ")")
                        : ::ember::detail::str("cudaMemGetInfo failed: ", cudaGetErrorString(err));
  EMBER_FAIL("CUDA out of memory on cuda:", device, ": tried to allocate ", asked, " bytes (", mib(asked),
             ", rounded to ", rounded, "); ", dev, "; ember holds ", pool.stats.allocated, " bytes allocated and ",
             pool.stats.cached, " cached (cache already returned to CUDA before this error)");
}

}  // namespace

size_t round_allocation(size_t n) {
  if (n <= kLargeThreshold) return (n + kSmallQuantum - 1) / kSmallQuantum * kSmallQuantum;
  return (n + kLargeQuantum - 1) / kLargeQuantum * kLargeQuantum;
}

void* device_alloc(size_t nbytes, int device) {
  if (nbytes == 0) return nullptr;
  check_device(device, "cuda_alloc");
  size_t size = round_allocation(nbytes);
  EMBER_CHECK(size >= nbytes, "cuda_alloc: size ", nbytes, " bytes overflows when rounded up");
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  Pool& pool = a.pools[device];
  MemoryStats& st = pool.stats;

  void* p = nullptr;
  auto it = pool.free_blocks.find(size);
  if (it != pool.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    st.cached -= size;
    ++st.cache_hits;
  } else {
    DeviceGuard g(device);
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {  // give the cache back and try once more
      cudaGetLastError();
      release_cached(pool);
      err = cudaMalloc(&p, size);
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        out_of_memory(pool, nbytes, size, device);
      }
    }
    if (err != cudaSuccess) ::ember::cuda::fail(err, "cudaMalloc(&p, size)", __func__, __FILE__, __LINE__);
    ++st.device_mallocs;
    st.reserved += size;
    st.peak_reserved = std::max(st.peak_reserved, st.reserved);
  }
  pool.live[p] = size;
  st.allocated += size;
  st.peak_allocated = std::max(st.peak_allocated, st.allocated);
  return p;
}

void device_free(void* p, int device) {
  if (p == nullptr) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  Pool& pool = a.pools[device];
  auto it = pool.live.find(p);
  if (it == pool.live.end()) {  // a bug elsewhere; throwing here would terminate from a destructor
    std::fprintf(stderr, "ember: cuda_free of %p, which the allocator of cuda:%d did not hand out (ignored)\n", p,
                 device);
    return;
  }
  size_t size = it->second;
  pool.live.erase(it);
  pool.free_blocks[size].push_back(p);
  pool.stats.allocated -= size;
  pool.stats.cached += size;
}

MemoryStats memory_stats(int device) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  auto it = a.pools.find(device);
  return it == a.pools.end() ? MemoryStats{} : it->second.stats;
}

void reset_peak_stats(int device) {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  auto it = a.pools.find(device);
  if (it == a.pools.end()) return;
  it->second.stats.peak_allocated = it->second.stats.allocated;
  it->second.stats.peak_reserved = it->second.stats.reserved;
}

void empty_cache() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mu);
  for (auto& [device, pool] : a.pools) {
    DeviceGuard g(device);
    release_cached(pool);  // cudaFree waits for the device, so no pending kernel still uses a block
  }
}

}  // namespace ember::cuda
