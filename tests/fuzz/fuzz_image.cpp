// Fuzzes the image path of `classify`: app::decode_image (stb_image behind a size check that
// runs before decoding) on arbitrary bytes.
#include "apps/common/image_io.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

namespace {
// A 2x2 binary PPM and PGM; stb reads these without any other library.
std::string ppm() { return std::string("P6\n2 2\n255\n") + std::string("\xff\x00\x00\x00\xff\x00\x00\x00\xff\xff\xff\xff", 12); }
std::string pgm() { return std::string("P5\n2 2\n255\n") + std::string("\x00\x40\x80\xff", 4); }
// A 1x1 24-bit BMP.
std::string bmp() {
  std::string b = "BM";
  auto le32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b += char(v >> (8 * i)); };
  auto le16 = [&](uint16_t v) { b += char(v), b += char(v >> 8); };
  le32(58), le32(0), le32(54), le32(40), le32(1), le32(1), le16(1), le16(24), le32(0), le32(4), le32(2835), le32(2835),
      le32(0), le32(0);
  b += std::string("\x10\x20\x30\x00", 4);
  return b;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] { return std::map<std::string, std::string>{{"a.ppm", ppm()}, {"a.pgm", pgm()}, {"a.bmp", bmp()}}; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::refusal_ok([&] {
    app::Image im = app::decode_image(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)im;
  });
  return 0;
}
