// mnist.h — the MNIST reader: IDX files as distributed, plain or gzip'd.
//
// IDX (LeCun's format): a big-endian header, then raw uint8 data.
//   images  magic 0x00000803, count, rows, cols (16 bytes), then count*rows*cols pixels, row-major
//   labels  magic 0x00000801, count (8 bytes), then count label bytes
// A gzip'd file is recognised by its first two bytes 0x1f 0x8b, not by its name.
//
// The reader trusts nothing it reads: the header is read and checked first (magic, non-zero
// dimensions, at most 1e9 data bytes); a plain file's length must then equal header + claimed
// data exactly before anything is allocated; a gzip stream is inflated in 1 MiB chunks, so memory
// follows the bytes that really arrive, and a stream that ends early or runs past the claimed
// size is an error naming the file, what the header claimed and what was found. Labels must be
// < 10 and the image and label files must hold the same count.
//
// ImageSet, balanced_subset and split_validation are shared with CIFAR-10: datasets/image_batch.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/image_batch.h"

namespace ember::datasets {

// Hard limit on the data a header may claim (the MNIST train images are 47,040,000 bytes).
constexpr uint64_t kMaxIdxBytes = 1000000000ull;

// One IDX image file: count × rows × cols uint8 pixels.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;
};

// Reads an IDX image file (magic 0x00000803), plain or gzip.
IdxImages read_idx_images(const std::string& path);
// Reads an IDX label file (magic 0x00000801), plain or gzip; values are not range-checked here.
std::vector<uint8_t> read_idx_labels(const std::string& path);

// The MNIST train (60,000) or test (10,000) split from `dir`, which holds the files as
// distributed: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each uncompressed or with a .gz suffix (the uncompressed one is taken
// when both are present). Result: c = 1, h = w = 28 (as the header says), labels in 0..9.
ImageSet load_mnist(const std::string& dir, bool train);

}  // namespace ember::datasets
