// engine/ops/pointwise.h — the engine side of pointwise kernels (not part of the public API).
//
// map/zip/zip3 apply a functor from kernels/functors.h elementwise, with broadcasting, and
// record NO graph: forward ops wrap them with a backward rule; backward rules call them
// directly (e.g. zip(g, y, fn::TanhGrad{})). Output: a fresh contiguous tensor.
#pragma once

#include "engine/autograd.h"
#include "engine/tensor.h"
#include "kernels/cpu/pointwise.h"
#include "kernels/functors.h"
#if EMBER_CUDA
#include "kernels/cuda/pointwise.h"
#include "kernels/cuda/runtime.h"
#endif

namespace ember::detail {

// Strides that read t as if it had out_shape (t's shape broadcast to it): 0 on broadcast dims.
inline Shape broadcast_strides(const Tensor& t, const Shape& out_shape) {
  Shape st(out_shape.size(), 0);
  size_t lead = out_shape.size() - t.shape().size();
  for (size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 && out_shape[lead + i] != 1 ? 0 : t.strides()[i];
  return st;
}

inline void check_same(const Tensor& a, const Tensor& b, const char* name) {
  EMBER_CHECK(a.dtype() == b.dtype(), name, ": dtype mismatch, ", a.dtype(), " vs ", b.dtype(),
              " (ember does not promote types; convert with to(dtype))");
  EMBER_CHECK(a.device() == b.device(), name, ": device mismatch, ", a.device(), " vs ", b.device());
}

[[noreturn]] inline void cuda_pointwise_missing(const char* name) {
  EMBER_FAIL(name, ": no CUDA pointwise kernel in this build");
}

#if EMBER_CUDA
// The CUDA side of pointwise: same strides, kernels/cuda/pointwise.cu's kernel on the device's stream.
template <size_t N, class F>
Tensor cuda_pointwise(const std::array<const Tensor*, N>& in, const Shape& shape, F f, const char* name) {
  const Tensor& a = *in[0];
  int device = a.device().index;
  Tensor out = empty(shape, Options(a.dtype(), a.device()));
  std::array<Shape, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(*in[k], shape);
  cuda::DeviceGuard guard(device);
  EMBER_DISPATCH_FLOAT(a.dtype(), name, [&] {
    std::array<const scalar_t*, N> ptr;
    std::array<const int64_t*, N> st;
    for (size_t k = 0; k < N; ++k) {
      ptr[k] = in[k]->template data<scalar_t>();
      st[k] = strides[k].data();
    }
    cuda::pointwise<scalar_t, N>(out.data<scalar_t>(), ptr, st, shape.data(), static_cast<int64_t>(shape.size()), f,
                                 cuda::stream(device));
  });
  return out;
}
#endif

template <size_t N, class F>
Tensor pointwise(const std::array<const Tensor*, N>& in, const Shape& shape, F f, const char* name) {
  const Tensor& a = *in[0];
  for (size_t k = 1; k < N; ++k) check_same(a, *in[k], name);
#if EMBER_CUDA
  if (a.device().is_cuda()) return cuda_pointwise<N>(in, shape, f, name);
#else
  if (a.device().is_cuda()) cuda_pointwise_missing(name);
#endif
  Tensor out = empty(shape, Options(a.dtype(), a.device()));
  std::array<Shape, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = broadcast_strides(*in[k], shape);
  EMBER_DISPATCH_FLOAT(a.dtype(), name, [&] {
    std::array<const scalar_t*, N> ptr;
    std::array<const int64_t*, N> st;
    for (size_t k = 0; k < N; ++k) {
      ptr[k] = in[k]->template data<scalar_t>();
      st[k] = strides[k].data();
    }
    cpu::pointwise<scalar_t, N>(out.data<scalar_t>(), ptr, st, shape.data(), static_cast<int64_t>(shape.size()), f);
  });
  return out;
}

template <class F>
Tensor map(const Tensor& a, F f, const char* name) {
  return pointwise<1>({&a}, a.shape(), f, name);
}

template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f, const char* name) {
  return pointwise<2>({&a, &b}, broadcast_shapes(a.shape(), b.shape(), name), f, name);
}

template <class F>
Tensor zip3(const Tensor& a, const Tensor& b, const Tensor& c, F f, const char* name) {
  Shape s = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), name), c.shape(), name);
  return pointwise<3>({&a, &b, &c}, s, f, name);
}

}  // namespace ember::detail
