// kernels/cpu/allocator.h — the host allocator behind every CPU Storage: aligned_alloc, plus a
// small cache of large freed blocks.
//
// Why a cache: glibc serves blocks above its mmap threshold (at most 32 MiB) with mmap and hands
// them back with munmap on free, so every training step that makes a 93 MB tensor (the LM's
// 700 × 33,278 logits and their gradient) pays the kernel to map and zero 23k fresh pages: in a
// profile of the softmax cross-entropy step that was as much time as the loss kernels
// themselves. A freed block of at least 1 MiB is therefore kept, keyed by its rounded size
// (a multiple of 2 MiB, as the CUDA allocator rounds), and handed to the next request of that
// size. Steps whose shapes repeat stop mapping memory after their first step.
//
// The cache is bounded, because its blocks stay resident: a free that would take the cached bytes
// over the limit (EMBER_HOST_CACHE_MIB, default 512; 0 turns the cache off) returns the block to
// the system instead. Small blocks go straight to malloc's own free lists.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::cpu {

struct HostMemoryStats {
  size_t cached = 0;           // bytes in free blocks kept for reuse
  size_t cache_limit = 0;      // the bound on `cached`
  int64_t cache_hits = 0;      // requests served from the cache
  int64_t system_allocs = 0;   // requests of >= 1 MiB that went to aligned_alloc
};

size_t host_round_allocation(size_t n);  // what a request of n bytes occupies (64-byte multiple, 2 MiB above 1 MiB)

void* host_alloc(size_t nbytes);            // 64-byte aligned; nullptr for 0 bytes; throws when out of memory
void host_free(void* p, size_t nbytes);     // nbytes as asked of host_alloc; never throws
HostMemoryStats host_memory_stats();
void host_set_cache_limit(size_t bytes);    // shrinks the cache at once if it holds more
void host_empty_cache();                    // every cached block back to the system

}  // namespace ember::cpu
