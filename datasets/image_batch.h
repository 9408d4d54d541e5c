// image_batch.h — an in-memory image dataset (ImageSet) and the steps that turn a slice of it
// into a float tensor batch: scaling, grey→RGB, random pad-crop and flip, per-channel normalising.
//
// The readers (datasets/mnist.h, datasets/cifar10.h) fill an ImageSet with the raw uint8 pixels
// exactly as the files hold them; nothing is converted at load time, so 60,000 MNIST images take
// 47 MB and not 188 MB. A batch is made on demand:
//
//   Tensor x = to_tensor(set, idx);                    // (N, C, H, W) float32 in [0, 1]
//   x = random_crop_flip(x, /*pad=*/4, /*flip=*/true, gen);   // augmentation, pixel domain
//   normalize_channels_(x, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f});
//
// The order matters if results are to match torchvision (RandomCrop(padding) → ToTensor →
// Normalize): padding fills with 0 in the pixel domain, so crop before normalising.
// Resizing is not here: use the engine's interpolate_bilinear op on the batch.
//
// Also here, because MNIST and CIFAR-10 share them: balanced_subset (N images per class, drawn
// with a seed) and split_validation (hold out part of a list of indices).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace ember::datasets {

// n images of c×h×w uint8 pixels, stored image after image, each CHW (channel planes, rows
// top to bottom, row-major) — the order of the CIFAR-10 files and, with c = 1, of MNIST's.
// Pixel (i, ch, y, x) is pixels[((i*c + ch)*h + y)*w + x].
struct ImageSet {
  std::vector<uint8_t> pixels;  // n*c*h*w
  std::vector<int64_t> labels;  // n
  int64_t n = 0, h = 0, w = 0, c = 0;

  int64_t image_bytes() const { return c * h * w; }
};

// Images idx[0..N) as a float32 CPU tensor (N, C, H, W), each pixel multiplied by `scale`.
// Indices are checked against set.n.
Tensor to_tensor(const ImageSet& set, const std::vector<int64_t>& idx, float scale = 1.0f / 255.0f);

// Their labels as an int64 CPU tensor (N).
Tensor labels_tensor(const ImageSet& set, const std::vector<int64_t>& idx);

// (N, 1, H, W) → (N, 3, H, W) by copying the grey plane into each channel (to feed MNIST to a
// network built for RGB input). Float32 or float64 CPU input.
Tensor grey_to_rgb(const Tensor& batch);

// In place on a contiguous float32 CPU (N, C, H, W) batch: x[:, ch] = (x[:, ch] − mean[ch]) / std[ch].
// mean and std need C entries (or one entry, used for every channel); std entries must be > 0.
void normalize_channels_(Tensor& batch, const std::vector<float>& mean, const std::vector<float>& std);

// Augmentation on a float32 CPU (N, C, H, W) batch, one independent draw per image: pad every
// side with `pad` zeros, cut an H×W window at a random offset (so the image shifts by
// dy, dx ∈ [−pad, pad], uniform), then, when `flip`, mirror left–right with probability 1/2.
// Draws from gen in the order dy, dx, flip for image 0, then image 1, …, so a seed fixes the
// batch. pad = 0 and flip = false returns a copy. Returns a new contiguous tensor.
Tensor random_crop_flip(const Tensor& batch, int64_t pad, bool flip, Generator& gen);

// ---- index sampling (shared by MNIST and CIFAR-10) ----

// A uniform integer in [0, n), without modulo bias (rejection sampling on next_u64).
int64_t random_below(Generator& gen, int64_t n);
// Fisher–Yates shuffle in place, drawing with random_below.
void shuffle_in_place(std::vector<int64_t>& v, Generator& gen);

// `per_class` indices of each class 0..num_classes-1, chosen at random with gen, returned in
// ascending order (num_classes * per_class of them). Labels must lie in [0, num_classes).
// Error, naming the class and its count, if a class has fewer than per_class images.
std::vector<int64_t> balanced_subset(const std::vector<int64_t>& labels, int64_t per_class, Generator& gen,
                                     int64_t num_classes = 10);

// A random split of `indices` into a training part and a held-out validation part; each part
// keeps the ascending order of the values it holds (they are sorted). The caller shuffles per epoch.
struct IndexSplit {
  std::vector<int64_t> train;
  std::vector<int64_t> valid;
};
// Hold out round(fraction · n) indices, 0 ≤ fraction ≤ 1.
IndexSplit split_validation(const std::vector<int64_t>& indices, double fraction, Generator& gen);
// Hold out exactly `count` indices, 0 ≤ count ≤ n.
IndexSplit split_validation(const std::vector<int64_t>& indices, int64_t count, Generator& gen);
// An int literal (split_validation(idx, 5000, gen)) means a count, not a fraction.
inline IndexSplit split_validation(const std::vector<int64_t>& indices, int count, Generator& gen) {
  return split_validation(indices, static_cast<int64_t>(count), gen);
}

}  // namespace ember::datasets
