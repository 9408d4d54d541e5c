// cifar10.h — the CIFAR-10 reader for the official binary version (cifar-10-batches-bin).
//
// Files: data_batch_1.bin … data_batch_5.bin (train, 10,000 images each), test_batch.bin
// (10,000), batches.meta.txt (the ten class names, one per line). A batch file has no header:
// it is a run of 3,073-byte records, 1 label byte (0..9) then 3,072 pixel bytes — the red,
// green and blue 32×32 planes in turn, rows top to bottom. So each file's size must be a
// non-zero multiple of 3,073; it is checked before anything is allocated.
//
// The ImageSet keeps the pixels in the file's own CHW order (c = 3, h = w = 32), with no
// transposition: to_tensor (datasets/image_batch.h) then yields (N, 3, 32, 32) directly.
#pragma once

#include <string>
#include <vector>

#include "datasets/image_batch.h"

namespace ember::datasets {

constexpr int64_t kCifarRecordBytes = 1 + 3 * 32 * 32;  // 3073

// Appends the records of one batch file to `set` (which must be empty or hold 3×32×32 images).
void read_cifar10_batch(const std::string& path, ImageSet& set);

// The train split (data_batch_1..5, 50,000 images in file order) or the test split
// (test_batch, 10,000) from `dir`. Every expected file must be present.
ImageSet load_cifar10(const std::string& dir, bool train);

// The class names of batches.meta.txt in label order (blank lines and trailing whitespace are
// dropped); exactly 10 are expected: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck.
std::vector<std::string> cifar10_class_names(const std::string& dir);

}  // namespace ember::datasets
