// Fuzzes safetensors::load_from_memory: the header length, the JSON header, dtypes, shapes,
// data offsets and __metadata__, then reads every tensor it accepted.
#include "engine/io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    std::map<std::string, std::string> seeds;
    seeds["two.safetensors"] = safetensors::save_to_memory(
        {{"w", from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3})}, {"b", from_vector<double>({0.5, -1}, {2})}},
        {{"format", "pt"}});
    seeds["ints.safetensors"] = safetensors::save_to_memory(
        {{"ids", from_vector<int64_t>({1, 2, 3}, {3})}, {"n", from_vector<int32_t>({7}, {1})},
         {"h", from_vector<float>({1}, {1, 1}).to(DType::BF16)}});
    seeds["empty.safetensors"] = safetensors::save_to_memory({});
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::refusal_ok([&] {
    safetensors::File f = safetensors::load_from_memory(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    double sum = 0;
    for (auto& [name, t] : f.tensors)
      if (t.numel() > 0 && t.dtype() != DType::BF16) { Tensor d = t.to(DType::F64).contiguous(); sum += d.data<double>()[0] + d.data<double>()[d.numel() - 1]; }
    (void)sum;
  });
  return 0;
}
