// dtype.h — element types, devices, and the dispatch macros that turn a runtime dtype into
// a template argument for the raw-pointer kernels.
#pragma once

#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>

#include "engine/error.h"

namespace ember {

enum class DType : uint8_t { F32, F64, BF16, I32, I64 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F64: return "float64";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::BF16; }
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

// bfloat16: the top 16 bits of an IEEE float32. Conversion rounds to nearest even, as
// PyTorch and CUDA's __float2bfloat16 do; NaN stays NaN.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  explicit bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it quiet and a NaN
      bits = static_cast<uint16_t>((u >> 16) | 0x40);
    } else {
      uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>((u + rounding) >> 16);
    }
  }
  explicit operator float() const {
    uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::F32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::F64; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::BF16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::I32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::I64; };

struct Device {
  enum class Kind : uint8_t { CPU, CUDA };
  Kind kind = Kind::CPU;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {Kind::CUDA, i}; }
  static Device parse(const std::string& s);  // "cpu", "cuda", "cuda:1"
  bool is_cpu() const { return kind == Kind::CPU; }
  bool is_cuda() const { return kind == Kind::CUDA; }
  bool operator==(const Device& o) const { return kind == o.kind && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};
inline std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace ember

// EMBER_DISPATCH_FLOAT(dtype, "op", [&] { kernel<scalar_t>(...); }) runs the lambda with
// scalar_t bound to float or double. The CPU reference kernels exist for exactly these two;
// bfloat16 is a storage type on the CPU (convert with to(DType::F32) to compute).
#define EMBER_DISPATCH_FLOAT(DT, NAME, ...)                                          \
  [&] {                                                                              \
    switch (DT) {                                                                    \
      case ::ember::DType::F32: { using scalar_t = float; return __VA_ARGS__(); }    \
      case ::ember::DType::F64: { using scalar_t = double; return __VA_ARGS__(); }   \
      default: EMBER_FAIL(NAME, ": expected a float32 or float64 tensor, got ", (DT)); \
    }                                                                                \
  }()

// Index tensors (embedding ids, gather indices, class targets) are int32 or int64.
#define EMBER_DISPATCH_INDEX(DT, NAME, ...)                                          \
  [&] {                                                                              \
    switch (DT) {                                                                    \
      case ::ember::DType::I32: { using index_t = int32_t; return __VA_ARGS__(); }   \
      case ::ember::DType::I64: { using index_t = int64_t; return __VA_ARGS__(); }   \
      default: EMBER_FAIL(NAME, ": expected an int32 or int64 index tensor, got ", (DT)); \
    }                                                                                \
  }()

#define EMBER_DISPATCH_ALL(DT, NAME, ...)                                            \
  [&] {                                                                              \
    switch (DT) {                                                                    \
      case ::ember::DType::F32: { using scalar_t = float; return __VA_ARGS__(); }    \
      case ::ember::DType::F64: { using scalar_t = double; return __VA_ARGS__(); }   \
      case ::ember::DType::BF16: { using scalar_t = ::ember::bfloat16; return __VA_ARGS__(); } \
      case ::ember::DType::I32: { using scalar_t = int32_t; return __VA_ARGS__(); }  \
      case ::ember::DType::I64: { using scalar_t = int64_t; return __VA_ARGS__(); }  \
    }                                                                                \
    EMBER_FAIL(NAME, ": unknown dtype");                                             \
  }()
