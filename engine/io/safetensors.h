// safetensors.h — load and save the safetensors format, the weight files Hugging Face and
// PyTorch users exchange. Pretrained models (models/) bind their parameters from these by name.
//
// Format: 8-byte little-endian u64 N | N bytes of UTF-8 JSON header | raw little-endian data.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, with
// offsets relative to the start of the data buffer, plus an optional "__metadata__" object of
// string → string.
//
// Loading trusts nothing: the header length, every entry's types, dtype, shape and byte range
// are checked against the file's real size before a single tensor is allocated, so a truncated
// or hostile file gives an ember::Error naming the file and the tensor, never a crash or a huge
// allocation.
//
// dtypes on load: F32, F64, BF16, I32, I64 keep their type; F16 becomes float32 (exactly:
// every half is a float); I16, I8, U8 and BOOL become int32 (BOOL as 0/1).
// dtypes on save: whatever the tensor holds (float32, float64, bfloat16, int32, int64).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace ember::safetensors {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct File {
  NamedTensors tensors;                          // CPU tensors, in data-offset order
  std::map<std::string, std::string> metadata;   // the header's __metadata__
  std::string source;                            // path (or `what`) it came from, for messages

  // Throws an ember::Error naming the missing tensor and the closest names the file holds.
  Tensor get(const std::string& name) const;
  bool contains(const std::string& name) const;
};

File load(const std::string& path);
// Same checks as load(); `what` names the buffer in error messages.
File load_from_memory(const std::string& bytes, const std::string& what = "<memory>");

// Writes atomically: to `path + ".tmp"`, then renamed over `path`; the temp file is removed
// on error. Tensors may live on any device and have any strides. Names must be unique and
// not "__metadata__".
void save(const std::string& path, const NamedTensors& tensors,
          const std::map<std::string, std::string>& metadata = {});
std::string save_to_memory(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata = {});

// IEEE 754 binary16 bits → float (exact, subnormals, ±inf and NaN included).
float half_to_float(uint16_t h);

}  // namespace ember::safetensors
