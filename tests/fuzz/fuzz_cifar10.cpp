// Fuzzes the CIFAR-10 binary batch reader (records of 1 label byte + 3,072 pixel bytes).
#include "datasets/cifar10.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    std::string two;
    for (int i = 0; i < 2; ++i) two += char(i * 7) + std::string(3072, char(40 + i));
    return std::map<std::string, std::string>{{"two_records.bin", two}, {"one_byte.bin", std::string(1, '\x09')}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("batch.bin", data, size);
  fuzz::refusal_ok([&] {
    datasets::ImageSet set;
    datasets::read_cifar10_batch(path, set);
  });
  return 0;
}
