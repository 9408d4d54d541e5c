// kernels/cuda/copy.cu — strided copy with dtype conversion, and strided fill (kernels/cuda/copy.h).
//
// One grid-stride kernel per (dst type, src type): 20 converting pairs over float, double,
// bfloat16, int32 and int64, plus a same-type copy that moves raw 2/4/8-byte words. Layouts
// are simplified first (kernels/cuda/strided.cuh), so dense copies index without division.
#include "kernels/cuda/copy.h"

#include <type_traits>

#include "kernels/cuda/runtime.h"
#include "kernels/cuda/strided.cuh"

namespace ember::cuda {

namespace {

// bfloat16 in device code: the top 16 bits of a float (engine/dtype.h's bfloat16 is host-only).
struct bf16 {
  uint16_t bits;
};

__device__ __forceinline__ bf16 float_to_bf16(float f) {  // round to nearest even; NaN stays a quiet NaN
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<uint16_t>((u >> 16) | 0x40)};
  uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<uint16_t>((u + rounding) >> 16)};
}

// Source value in a type every destination can be made from: bfloat16 widens to float.
template <class S>
__device__ __forceinline__ S widen(S v) { return v; }
__device__ __forceinline__ float widen(bf16 v) { return __uint_as_float(static_cast<uint32_t>(v.bits) << 16); }

template <class D>
struct Narrow {
  template <class W>
  __device__ __forceinline__ static D from(W w) { return static_cast<D>(w); }
};
template <>
struct Narrow<bf16> {
  template <class W>
  __device__ __forceinline__ static bf16 from(W w) { return float_to_bf16(static_cast<float>(w)); }
};

template <class D, class S>
__global__ void copy_strided_kernel(D* __restrict__ dst, const S* __restrict__ src, StridedIndexer<2> ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = Narrow<D>::from(widen(src[off[1]]));
  }
}

template <class T>
__global__ void fill_strided_kernel(T* __restrict__ dst, T value, StridedIndexer<1> ix, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[1];
    ix.offsets(i, off);
    dst[off[0]] = value;
  }
}

// Raw words of one element's size: a same-type copy or a fill only moves bits.
template <size_t Bytes> struct Word;
template <> struct Word<2> { using type = uint16_t; };
template <> struct Word<4> { using type = uint32_t; };
template <> struct Word<8> { using type = uint64_t; };

// Calls f(T{}) with T the device type of dtype t.
template <class F>
void dispatch(DType t, F&& f) {
  switch (t) {
    case DType::F32: return f(float{});
    case DType::F64: return f(double{});
    case DType::BF16: return f(bf16{});
    case DType::I32: return f(int32_t{});
    case DType::I64: return f(int64_t{});
  }
  EMBER_FAIL("cuda copy: unknown dtype");
}

int64_t numel(const int64_t* shape, int64_t ndim) {
  int64_t n = 1;
  for (int64_t d = 0; d < ndim; ++d) n *= shape[d];
  return n;
}

}  // namespace

void copy_strided(void* dst, DType dst_dtype, const int64_t* dst_strides, const void* src, DType src_dtype,
                  const int64_t* src_strides, const int64_t* shape, int64_t ndim, cudaStream_t stream) {
  int64_t n = numel(shape, ndim);
  if (n == 0) return;
  StridedIndexer<2> ix = make_indexer<2>(shape, ndim, {dst_strides, src_strides}, "cuda copy_strided");
  int grid = grid_size(n);
  dispatch(dst_dtype, [&](auto d_tag) {
    dispatch(src_dtype, [&](auto s_tag) {
      using D = decltype(d_tag);
      using S = decltype(s_tag);
      if constexpr (std::is_same_v<D, S>) {
        using W = typename Word<sizeof(D)>::type;
        copy_strided_kernel<W, W><<<grid, kBlockSize, 0, stream>>>(static_cast<W*>(dst), static_cast<const W*>(src),
                                                                     ix, n);
      } else {
        copy_strided_kernel<D, S><<<grid, kBlockSize, 0, stream>>>(static_cast<D*>(dst), static_cast<const S*>(src),
                                                                     ix, n);
      }
      EMBER_CUDA_LAUNCH_CHECK();
    });
  });
}

void fill_strided(void* dst, size_t elem_size, uint64_t bits, const int64_t* strides, const int64_t* shape,
                  int64_t ndim, cudaStream_t stream) {
  int64_t n = numel(shape, ndim);
  if (n == 0) return;
  StridedIndexer<1> ix = make_indexer<1>(shape, ndim, {strides}, "cuda fill_strided");
  int grid = grid_size(n);
  auto launch = [&](auto word) {
    using W = decltype(word);
    fill_strided_kernel<W><<<grid, kBlockSize, 0, stream>>>(static_cast<W*>(dst), static_cast<W>(bits), ix, n);
    EMBER_CUDA_LAUNCH_CHECK();
  };
  switch (elem_size) {
    case 2: return launch(uint16_t{});
    case 4: return launch(uint32_t{});
    case 8: return launch(uint64_t{});
  }
  EMBER_FAIL("cuda fill_strided: element size ", elem_size, " is not 2, 4 or 8 bytes");
}

}  // namespace ember::cuda
