// apps/common/image_io.cpp — see image_io.h.
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include "apps/common/image_io.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/error.h"
#include "engine/io/files.h"

namespace ember::app {

namespace {

// Debian's stb_image (2.27) trusts a binary PNM's header: its numbers go into an int with no
// overflow check (a width of 30 digits is undefined behaviour, found by tests/fuzz/fuzz_image),
// and a file shorter than the header's size is "decoded" with the missing pixels uninitialised.
// So for P5/P6 the header is read here first: each number at most 9 digits, 8-bit samples only
// (stb's 16-bit path overflows its buffer), and every pixel byte it promises must be in the file.
void check_pnm(const std::string& b, const std::string& what) {
  if (b.size() < 2 || b[0] != 'P' || (b[1] != '5' && b[1] != '6')) return;
  size_t i = 2;
  int64_t v[3] = {0, 0, 0};
  for (int field = 0; field < 3; ++field) {
    while (i < b.size() && (std::isspace(static_cast<unsigned char>(b[i])) || b[i] == '#')) {
      if (b[i] == '#')
        while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
      else
        ++i;
    }
    size_t digits = 0;
    for (; i < b.size() && b[i] >= '0' && b[i] <= '9'; ++i, ++digits)
      if (digits < 9) v[field] = v[field] * 10 + (b[i] - '0');  // more digits are refused below
    EMBER_CHECK(digits <= 9, "cannot read image '", what, "': a PNM header number of ", digits,
                " digits (at most 9: a corrupt or hostile file)");
    if (digits == 0) return;  // not a number: stb reports the malformed header
  }
  // Debian's stb 2.27 overflows its buffer converting 16-bit PNM samples (fuzz_image): refused here.
  EMBER_CHECK(v[2] <= 255, "cannot read image '", what, "': a 16-bit PNM (maxval ", v[2],
              "); ember reads 8-bit PNM only (maxval up to 255)");
  ++i;  // the single whitespace character before the pixels
  const int64_t channels = b[1] == '6' ? 3 : 1, sample = 1;
  if (v[0] <= 0 || v[1] <= 0 || v[0] * v[1] > kMaxImagePixels) return;  // the size check below reports it
  const int64_t need = v[0] * v[1] * channels * sample, have = int64_t(b.size()) - int64_t(i);
  EMBER_CHECK(have >= need, "cannot read image '", what, "': the PNM header says ", v[0], " x ", v[1], " pixels (",
              need, " bytes) but the file holds ", std::max<int64_t>(have, 0), " (truncated)");
}

}  // namespace

Image decode_image(const std::string& bytes, const std::string& what) {
  check_pnm(bytes, what);
  const auto* buf = reinterpret_cast<const stbi_uc*>(bytes.data());
  EMBER_CHECK(bytes.size() <= size_t(INT32_MAX), "image '", what, "' is ", bytes.size(), " bytes (at most 2 GiB)");
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, channels = 0;
  EMBER_CHECK(stbi_info_from_memory(buf, len, &w, &h, &channels) != 0, "cannot read image '", what, "': ",
              stbi_failure_reason(), " (stb_image reads PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PIC and PNM)");
  EMBER_CHECK(w > 0 && h > 0 && int64_t(w) * h <= kMaxImagePixels, "image '", what, "' claims ", w, " x ", h,
              " pixels; ember decodes at most ", kMaxImagePixels, " pixels");
  int dw = 0, dh = 0;
  stbi_uc* data = stbi_load_from_memory(buf, len, &dw, &dh, &channels, 3);  // forced to RGB
  EMBER_CHECK(data != nullptr, "cannot read image '", what, "': ", stbi_failure_reason(),
              " (stb_image reads PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PIC and PNM)");
  std::unique_ptr<stbi_uc, void (*)(void*)> owned(data, stbi_image_free);
  EMBER_CHECK(dw == w && dh == h, "image '", what, "': header says ", w, " x ", h, ", decoder gave ", dw, " x ", dh);
  const int64_t H = h, W = w;
  std::vector<float> chw(static_cast<size_t>(3 * H * W));
  for (int64_t y = 0; y < H; ++y)  // interleaved HWC bytes → planar CHW floats
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < 3; ++c)
        chw[static_cast<size_t>((c * H + y) * W + x)] = static_cast<float>(data[(y * W + x) * 3 + c]) / 255.0f;
  return {from_vector(chw, {1, 3, H, W}), W, H};
}

Image read_image(const std::string& path) {
  EMBER_CHECK(std::filesystem::exists(path), "image '", path, "' does not exist");
  EMBER_CHECK(!std::filesystem::is_directory(path), "image '", path, "' is a directory");
  return decode_image(io::read_file(path), path);
}

}  // namespace ember::app
