// kernels/cuda/pointwise.cu — the N-ary elementwise kernels (kernels/cuda/pointwise.h) and
// their explicit instantiations for every functor the engine applies.
//
// Two kernels, both grid-stride loops with one thread per output element:
//   dense:   every input is contiguous (after dropping size-1 dims): out[i] = f(a[i], b[i], ...)
//   strided: broadcasting or views: each input's offset from its own strides, up to 8 dims.
// The functors are kernels/functors.h's, the very ones the CPU loops call (EMBER_HD makes them
// __host__ __device__), so the two backends cannot disagree about what an op computes.
#include "kernels/cuda/pointwise.h"

#include "kernels/cuda/runtime.h"
#include "kernels/cuda/strided.cuh"
#include "kernels/functors.h"

namespace ember::cuda {

namespace {

template <class T, size_t N>
struct Inputs {
  const T* p[N];
};

template <class T, size_t N, class F>
__device__ __forceinline__ T apply(const F& f, const Inputs<T, N>& in, const int64_t (&off)[N]) {
  if constexpr (N == 1) return f(in.p[0][off[0]]);
  else if constexpr (N == 2) return f(in.p[0][off[0]], in.p[1][off[1]]);
  else return f(in.p[0][off[0]], in.p[1][off[1]], in.p[2][off[2]]);
}

template <class T, size_t N, class F>
__global__ void pointwise_dense_kernel(T* __restrict__ out, Inputs<T, N> in, int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[N];
#pragma unroll
    for (size_t k = 0; k < N; ++k) off[k] = i;
    out[i] = apply(f, in, off);
  }
}

template <class T, size_t N, class F>
__global__ void pointwise_strided_kernel(T* __restrict__ out, Inputs<T, N> in, StridedIndexer<static_cast<int>(N)> ix,
                                         int64_t n, F f) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[N];
    ix.offsets(i, off);
    out[i] = apply(f, in, off);  // out is contiguous in the full shape: its offset is i
  }
}

}  // namespace

template <class T, size_t N, class F>
void pointwise(T* out, const std::array<const T*, N>& in, const std::array<const int64_t*, N>& strides,
               const int64_t* shape, int64_t ndim, F f, cudaStream_t stream) {
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  StridedIndexer<static_cast<int>(N)> ix = make_indexer<static_cast<int>(N)>(shape, ndim, strides, "cuda pointwise");
  Inputs<T, N> p;
  for (size_t k = 0; k < N; ++k) p.p[k] = in[k];
  int grid = grid_size(n);
  if (all_contiguous(ix)) pointwise_dense_kernel<T, N, F><<<grid, kBlockSize, 0, stream>>>(out, p, n, f);
  else pointwise_strided_kernel<T, N, F><<<grid, kBlockSize, 0, stream>>>(out, p, ix, n, f);
  EMBER_CUDA_LAUNCH_CHECK();
}

// ---- instantiations: every (functor, arity) that engine/ops/*.cpp passes to map/zip/zip3 ----
#define EMBER_CUDA_POINTWISE_T(T, N, F)                                                                  \
  template void pointwise<T, N, fn::F>(T*, const std::array<const T*, N>&, const std::array<const int64_t*, N>&, \
                                       const int64_t*, int64_t, fn::F, cudaStream_t);
#define EMBER_CUDA_POINTWISE(N, F) \
  EMBER_CUDA_POINTWISE_T(float, N, F) EMBER_CUDA_POINTWISE_T(double, N, F)

// unary: forward of neg, exp, log, …, and the scalar ops (add_scalar, clamp, pow_scalar)
EMBER_CUDA_POINTWISE(1, AddScalar)
EMBER_CUDA_POINTWISE(1, MulScalar)
EMBER_CUDA_POINTWISE(1, PowScalar)
EMBER_CUDA_POINTWISE(1, Clamp)
EMBER_CUDA_POINTWISE(1, Neg)
EMBER_CUDA_POINTWISE(1, Exp)
EMBER_CUDA_POINTWISE(1, Log)
EMBER_CUDA_POINTWISE(1, Sqrt)
EMBER_CUDA_POINTWISE(1, Rsqrt)
EMBER_CUDA_POINTWISE(1, Abs)
EMBER_CUDA_POINTWISE(1, Tanh)
EMBER_CUDA_POINTWISE(1, Sigmoid)
EMBER_CUDA_POINTWISE(1, Relu)
EMBER_CUDA_POINTWISE(1, Gelu)
// binary: forward ops, max/min tie weights, and the backward rules (g, x) / (g, y)
EMBER_CUDA_POINTWISE(2, Add)
EMBER_CUDA_POINTWISE(2, Sub)
EMBER_CUDA_POINTWISE(2, Mul)
EMBER_CUDA_POINTWISE(2, Div)
EMBER_CUDA_POINTWISE(2, Pow)
EMBER_CUDA_POINTWISE(2, Maximum)
EMBER_CUDA_POINTWISE(2, Minimum)
EMBER_CUDA_POINTWISE(2, MaxWeightA)
EMBER_CUDA_POINTWISE(2, MinWeightA)
EMBER_CUDA_POINTWISE(2, LogGrad)
EMBER_CUDA_POINTWISE(2, SqrtGrad)
EMBER_CUDA_POINTWISE(2, RsqrtGrad)
EMBER_CUDA_POINTWISE(2, AbsGrad)
EMBER_CUDA_POINTWISE(2, TanhGrad)
EMBER_CUDA_POINTWISE(2, SigmoidGrad)
EMBER_CUDA_POINTWISE(2, ReluGrad)
EMBER_CUDA_POINTWISE(2, GeluGrad)
EMBER_CUDA_POINTWISE(2, ClampGrad)
EMBER_CUDA_POINTWISE(2, PowScalarGrad)
// ternary: where, masked_fill
EMBER_CUDA_POINTWISE(3, Select)

#undef EMBER_CUDA_POINTWISE
#undef EMBER_CUDA_POINTWISE_T

}  // namespace ember::cuda
