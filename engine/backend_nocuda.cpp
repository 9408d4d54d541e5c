// backend_nocuda.cpp — the CUDA hooks of a CPU-only build: each says why it cannot work.
#include "engine/backend.h"

namespace ember::backend {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  EMBER_FAIL(what, ": ember was built without CUDA (configure with -DEMBER_CUDA=ON where nvcc exists)");
}
}  // namespace

bool cuda_available() { return false; }
void* cuda_alloc(size_t, Device) { no_cuda("cuda_alloc"); }
void cuda_free(void*, Device) {}
void cuda_copy(Tensor&, const Tensor&) { no_cuda("copy to/from a CUDA tensor"); }
void cuda_fill(Tensor&, double) { no_cuda("fill of a CUDA tensor"); }

}  // namespace ember::backend
