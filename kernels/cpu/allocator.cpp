// kernels/cpu/allocator.cpp — the host allocator (kernels/cpu/allocator.h). One mutex guards the
// cache: a Storage is made or dropped a few hundred times a step, never inside a kernel's loop.
#include "kernels/cpu/allocator.h"

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/error.h"

namespace ember::cpu {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kCachedFrom = size_t(1) << 20;  // blocks below this are malloc's business
constexpr size_t kLargeQuantum = size_t(2) << 20;

size_t default_limit() {
#if defined(__SANITIZE_ADDRESS__)
  return 0;  // AddressSanitizer must see every free to catch a use after it
#endif
  const char* env = std::getenv("EMBER_HOST_CACHE_MIB");
  if (env == nullptr || *env == '\0') return size_t(512) << 20;
  char* end = nullptr;
  const long long mib = std::strtoll(env, &end, 10);
  if (end == env || *end != '\0' || mib < 0) {
    std::fprintf(stderr, "ember: EMBER_HOST_CACHE_MIB='%s' is not a count of MiB >= 0; using 512\n", env);
    return size_t(512) << 20;
  }
  return static_cast<size_t>(mib) << 20;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // rounded size -> blocks
  HostMemoryStats stats;
  Cache() { stats.cache_limit = default_limit(); }

  // Frees cached blocks until at most `keep` bytes remain (the caller holds the lock).
  void shrink_to(size_t keep) {
    for (auto it = free_blocks.begin(); it != free_blocks.end() && stats.cached > keep;) {
      auto& blocks = it->second;
      while (!blocks.empty() && stats.cached > keep) {
        std::free(blocks.back());
        blocks.pop_back();
        stats.cached -= it->first;
      }
      it = blocks.empty() ? free_blocks.erase(it) : std::next(it);
    }
  }
};

// Never destroyed: Storages freed during static destruction still find it.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

size_t host_round_allocation(size_t n) {
  if (n < kCachedFrom) return (n + kAlign - 1) / kAlign * kAlign;
  return (n + kLargeQuantum - 1) / kLargeQuantum * kLargeQuantum;
}

void* host_alloc(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t size = host_round_allocation(nbytes);
  EMBER_CHECK(size >= nbytes, "out of memory: ", nbytes, " bytes overflow when rounded up");
  if (size >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached -= size;
      ++c.stats.cache_hits;
      return p;
    }
    ++c.stats.system_allocs;
  }
  void* p = std::aligned_alloc(kAlign, size);
  if (p == nullptr && size >= kCachedFrom) {  // give the cache back and try once more
    host_empty_cache();
    p = std::aligned_alloc(kAlign, size);
  }
  EMBER_CHECK(p != nullptr, "out of memory: could not allocate ", nbytes, " bytes on the CPU");
  return p;
}

void host_free(void* p, size_t nbytes) {
  if (p == nullptr) return;
  const size_t size = host_round_allocation(nbytes);
  if (size >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.stats.cached + size <= c.stats.cache_limit) {
      try {
        c.free_blocks[size].push_back(p);
        c.stats.cached += size;
        return;
      } catch (...) {  // no room for the list entry: free the block below instead
      }
    }
  }
  std::free(p);
}

HostMemoryStats host_memory_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void host_set_cache_limit(size_t bytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.stats.cache_limit = bytes;
  c.shrink_to(bytes);
}

void host_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.shrink_to(0);
}

}  // namespace ember::cpu
