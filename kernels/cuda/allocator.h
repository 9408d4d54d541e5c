// kernels/cuda/allocator.h — the caching device allocator behind every CUDA Storage.
//
// cudaMalloc and cudaFree synchronise the device and cost tens of microseconds; a training
// step makes and drops hundreds of temporaries. So a freed block is not returned to CUDA but
// kept in a free list for its (rounded) size and handed to the next request of that size.
//
//   size rounding: up to 1 MiB -> a multiple of 512 B; above -> a multiple of 2 MiB,
//   so a workload whose shapes repeat settles on a fixed set of blocks and stops calling
//   cudaMalloc after its first step. A block is reused only for the same rounded size
//   (no splitting): simple, and no fragmentation inside blocks.
//
// Reuse is safe without events because all ember work on a device runs on its one stream
// (kernels/cuda/runtime.h): a kernel issued after the free is ordered after every kernel that
// used the block before. empty_cache() returns the free blocks to CUDA.
//
// Out of memory: the device's free blocks are returned to CUDA and the cudaMalloc retried;
// if it still fails, the error names the bytes asked for, the device's free and total bytes
// (cudaMemGetInfo) and what ember itself holds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::cuda {

struct MemoryStats {
  size_t allocated = 0;       // bytes in live blocks (rounded sizes)
  size_t peak_allocated = 0;
  size_t cached = 0;          // bytes in free blocks kept for reuse
  size_t reserved = 0;        // allocated + cached: everything ember holds from cudaMalloc
  size_t peak_reserved = 0;
  int64_t device_mallocs = 0;  // cudaMalloc calls so far
  int64_t cache_hits = 0;      // requests served from a free list
};

// Rounded size of a request of n bytes (what allocated/cached count).
size_t round_allocation(size_t n);

void* device_alloc(size_t nbytes, int device);  // nullptr for 0 bytes; throws on OOM
void device_free(void* p, int device);          // never throws: it runs from Storage's destructor
MemoryStats memory_stats(int device = 0);
void reset_peak_stats(int device = 0);          // peaks := current values
void empty_cache();                              // every device: free blocks back to CUDA

}  // namespace ember::cuda
