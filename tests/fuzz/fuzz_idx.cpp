// Fuzzes the MNIST IDX readers, plain and gzip: the first input byte picks images or labels and
// whether the rest is written as a .gz file (then it goes through zlib first).
#include <zlib.h>

#include "datasets/mnist.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

namespace {
std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string gzip(const std::string& raw) {
  std::string out(compressBound(raw.size()) + 64, '\0');
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = uInt(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    std::string images = be32(0x803) + be32(2) + be32(3) + be32(3) + std::string(18, '\x7f');
    std::string labels = be32(0x801) + be32(2) + std::string("\x03\x07", 2);
    return std::map<std::string, std::string>{{"images", std::string(1, '\0') + images},
                                              {"labels", std::string(1, '\1') + labels},
                                              {"images_gz", std::string(1, '\2') + gzip(images)},
                                              {"labels_gz", std::string(1, '\3') + gzip(labels)}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool labels = data[0] & 1, gz = data[0] & 2;
  const std::string path = fuzz::write_file(gz ? "f-idx-ubyte.gz" : "f-idx-ubyte", data + 1, size - 1);
  fuzz::refusal_ok([&] {
    if (labels) {
      auto l = datasets::read_idx_labels(path);
      (void)l;
    } else {
      auto im = datasets::read_idx_images(path);
      (void)im;
    }
  });
  return 0;
}
