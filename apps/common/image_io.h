// apps/common/image_io.h — images from files into tensors, through stb_image (Debian libstb):
// PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PIC, PNM. The header's size is checked before anything is
// decoded, so a small file that claims a huge image is refused without allocating for it.
#pragma once
#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace ember::app {

struct Image {
  Tensor pixels;  // (1, 3, H, W) float32 in [0, 1], grey and RGBA converted to RGB
  int64_t width = 0, height = 0;
};

// Largest image decoded: 16.8 megapixels (4096 × 4096, or any shape of that area).
constexpr int64_t kMaxImagePixels = int64_t(1) << 24;

Image read_image(const std::string& path);
// `bytes` is a whole encoded file; `what` names it in errors.
Image decode_image(const std::string& bytes, const std::string& what = "<memory>");

}  // namespace ember::app
