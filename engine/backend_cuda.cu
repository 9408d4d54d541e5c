// engine/backend_cuda.cu — the storage-level CUDA hooks of engine/backend.h for an EMBER_CUDA
// build (a CPU-only build gets engine/backend_nocuda.cpp instead). Host code only: it turns
// Tensors into raw pointers, strides and dtypes for kernels/cuda/.
//
// Copies between devices keep the bytes that cross the bus dense and already in the
// destination's dtype: a non-contiguous or other-dtype source is first made dense on its own
// device (CPU loop or CUDA kernel), and a non-contiguous destination is reached through a
// dense landing tensor on its device.
#include <cstring>

#include "engine/backend.h"
#include "kernels/cpu/strided.h"
#include "kernels/cuda/allocator.h"
#include "kernels/cuda/copy.h"
#include "kernels/cuda/runtime.h"

namespace ember::backend {

bool cuda_available() { return cuda::device_count() > 0; }

void* cuda_alloc(size_t nbytes, Device d) { return cuda::device_alloc(nbytes, d.index); }

void cuda_free(void* p, Device d) { cuda::device_free(p, d.index); }

namespace {

size_t nbytes_of(const Tensor& t) { return static_cast<size_t>(t.numel()) * dtype_size(t.dtype()); }

// dst <- src, both on one CUDA device: any strides, any dtypes.
void copy_on_device(Tensor& dst, const Tensor& src) {
  int device = dst.device().index;
  cuda::DeviceGuard guard(device);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    cuda::copy_device_to_device(dst.raw_data(), src.raw_data(), nbytes_of(src), device);
  } else {
    cuda::copy_strided(dst.raw_data(), dst.dtype(), dst.strides().data(), src.raw_data(), src.dtype(),
                       src.strides().data(), src.shape().data(), src.dim(), cuda::stream(device));
  }
}

// src as a dense tensor of dtype dt on src's own device: src itself when it already is one.
Tensor dense_as(const Tensor& src, DType dt) {
  if (src.dtype() == dt && src.is_contiguous()) return src;
  Tensor out = empty(src.shape(), Options(dt, src.device()));
  copy_(out, src);
  return out;
}

// Where a copy into dst lands: dst itself when dense, else a dense tensor on dst's device.
Tensor landing_for(const Tensor& dst) {
  return dst.is_contiguous() ? dst : empty(dst.shape(), Options(dst.dtype(), dst.device()));
}

void copy_across_devices(Tensor& dst, const Tensor& src) {
  int from = src.device().index, to = dst.device().index;
  Tensor s = dense_as(src, dst.dtype());
  Tensor land = landing_for(dst);
  cuda::synchronize(from);  // s was written on the source device's stream
  {
    cuda::DeviceGuard guard(to);
    EMBER_CUDA_CHECK(cudaMemcpyPeerAsync(land.raw_data(), to, s.raw_data(), from, nbytes_of(s), cuda::stream(to)));
    // s's block returns to the source device's cache when s dies: the peer copy, on the
    // other device's stream, must have read it by then.
    cuda::synchronize(to);
  }
  if (!dst.is_contiguous()) copy_on_device(dst, land);
}

}  // namespace

void cuda_copy(Tensor& dst, const Tensor& src) {
  EMBER_CHECK(dst.shape() == src.shape(), "cuda_copy: destination shape ", dst.shape(), " != source shape ",
              src.shape());
  if (src.numel() == 0) return;
  Device dd = dst.device(), sd = src.device();
  if (dd.is_cuda()) cuda::check_device(dd.index, "copy to a CUDA tensor");
  if (sd.is_cuda()) cuda::check_device(sd.index, "copy from a CUDA tensor");

  if (dd.is_cuda() && sd.is_cuda()) {
    if (dd == sd) copy_on_device(dst, src);
    else copy_across_devices(dst, src);
    return;
  }
  if (dd.is_cuda()) {  // host -> device: converted and made dense on the host, sent through pinned staging
    Tensor h = dense_as(src, dst.dtype());
    Tensor land = landing_for(dst);
    cuda::copy_host_to_device(land.raw_data(), h.raw_data(), nbytes_of(h), dd.index);
    if (!dst.is_contiguous()) copy_on_device(dst, land);
    return;
  }
  // device -> host: converted and made dense on the device, then one transfer that waits
  Tensor s = dense_as(src, dst.dtype());
  Tensor land = dst.is_contiguous() ? dst : empty(dst.shape(), Options(dst.dtype()));
  cuda::copy_device_to_host(land.raw_data(), s.raw_data(), nbytes_of(s), sd.index);
  if (!dst.is_contiguous()) copy_(dst, land);
}

void cuda_fill(Tensor& t, double value) {
  if (t.numel() == 0) return;
  int device = t.device().index;
  cuda::check_device(device, "fill of a CUDA tensor");
  uint64_t bits = 0;  // the value converted exactly as the CPU's fill_ converts it
  EMBER_DISPATCH_ALL(t.dtype(), "fill_", [&] {
    scalar_t v = cpu::convert<scalar_t>(value);
    std::memcpy(&bits, &v, sizeof v);
  });
  cuda::DeviceGuard guard(device);
  cuda::fill_strided(t.raw_data(), dtype_size(t.dtype()), bits, t.strides().data(), t.shape().data(), t.dim(),
                     cuda::stream(device));
}

}  // namespace ember::backend
