// image_batch.cpp — ImageSet → float tensor batches, augmentation, and seeded index sampling.
// Everything here runs on the CPU on fresh contiguous tensors; a trainer moves the finished
// batch to its device in one copy.
#include "datasets/image_batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace ember::datasets {

namespace {

void check_batch(const Tensor& t, const char* what) {
  EMBER_CHECK(t.device().is_cpu(), what, ": expected a CPU tensor");
  EMBER_CHECK(t.dim() == 4, what, ": expected a 4-D batch (N, C, H, W), got ", t.shape());
}

}  // namespace

Tensor to_tensor(const ImageSet& set, const std::vector<int64_t>& idx, float scale) {
  const int64_t n = static_cast<int64_t>(idx.size()), per = set.image_bytes();
  EMBER_CHECK(set.c > 0 && set.h > 0 && set.w > 0, "to_tensor: ImageSet has no image shape (c=", set.c,
              ", h=", set.h, ", w=", set.w, ")");
  EMBER_CHECK(static_cast<int64_t>(set.pixels.size()) == set.n * per, "to_tensor: ImageSet holds ",
              set.pixels.size(), " pixel bytes, expected n*c*h*w = ", set.n * per);
  Tensor out = empty({n, set.c, set.h, set.w}, Options(DType::F32));
  float* dst = out.data<float>();
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = idx[k];
    EMBER_CHECK(i >= 0 && i < set.n, "to_tensor: index ", i, " (position ", k, ") out of range [0, ", set.n, ")");
    const uint8_t* src = set.pixels.data() + i * per;
    for (int64_t j = 0; j < per; ++j) dst[k * per + j] = static_cast<float>(src[j]) * scale;
  }
  return out;
}

Tensor labels_tensor(const ImageSet& set, const std::vector<int64_t>& idx) {
  EMBER_CHECK(static_cast<int64_t>(set.labels.size()) == set.n, "labels_tensor: ImageSet holds ",
              set.labels.size(), " labels for n = ", set.n, " images");
  std::vector<int64_t> out(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    EMBER_CHECK(idx[k] >= 0 && idx[k] < set.n, "labels_tensor: index ", idx[k], " (position ", k,
                ") out of range [0, ", set.n, ")");
    out[k] = set.labels[idx[k]];
  }
  return from_vector<int64_t>(out, {static_cast<int64_t>(out.size())});
}

Tensor grey_to_rgb(const Tensor& batch) {
  check_batch(batch, "grey_to_rgb");
  EMBER_CHECK(batch.size(1) == 1, "grey_to_rgb: expected one channel (N, 1, H, W), got ", batch.shape());
  // expand gives a stride-0 view over the channel; contiguous() materialises the three copies.
  return batch.expand({batch.size(0), 3, batch.size(2), batch.size(3)}).contiguous();
}

void normalize_channels_(Tensor& batch, const std::vector<float>& mean, const std::vector<float>& std) {
  check_batch(batch, "normalize_channels_");
  EMBER_CHECK(batch.dtype() == DType::F32 && batch.is_contiguous(),
              "normalize_channels_: expected a contiguous float32 batch, got ", batch.dtype(),
              batch.is_contiguous() ? "" : " (non-contiguous)");
  const int64_t n = batch.size(0), c = batch.size(1), plane = batch.size(2) * batch.size(3);
  auto fits = [c](size_t k) { return static_cast<int64_t>(k) == c || k == 1; };
  EMBER_CHECK(fits(mean.size()) && fits(std.size()), "normalize_channels_: batch has ", c,
              " channels, got ", mean.size(), " means and ", std.size(), " stds (expected ", c, " or 1 each)");
  for (float s : std) EMBER_CHECK(s > 0, "normalize_channels_: std entries must be > 0, got ", s);
  float* p = batch.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float m = mean[mean.size() == 1 ? 0 : ch], inv = 1.0f / std[std.size() == 1 ? 0 : ch];
      float* q = p + (i * c + ch) * plane;
      for (int64_t j = 0; j < plane; ++j) q[j] = (q[j] - m) * inv;
    }
}

Tensor random_crop_flip(const Tensor& batch, int64_t pad, bool flip, Generator& gen) {
  check_batch(batch, "random_crop_flip");
  EMBER_CHECK(batch.dtype() == DType::F32, "random_crop_flip: expected float32, got ", batch.dtype());
  EMBER_CHECK(pad >= 0, "random_crop_flip: pad must be >= 0, got ", pad);
  Tensor src_t = batch.contiguous();
  const int64_t n = batch.size(0), c = batch.size(1), h = batch.size(2), w = batch.size(3);
  Tensor out = empty({n, c, h, w}, Options(DType::F32));
  const float* src = src_t.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    // Output pixel (y, x) reads input (y + dy, x + dx), or 0 where that falls in the padding.
    const int64_t dy = random_below(gen, 2 * pad + 1) - pad;
    const int64_t dx = random_below(gen, 2 * pad + 1) - pad;
    const bool mirror = flip && gen.uniform() < 0.5;
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* s = src + (i * c + ch) * h * w;
      float* d = dst + (i * c + ch) * h * w;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sy = y + dy, sx = (mirror ? w - 1 - x : x) + dx;
          d[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? s[sy * w + sx] : 0.0f;
        }
    }
  }
  return out;
}

// ---- index sampling ----

int64_t random_below(Generator& gen, int64_t n) {
  EMBER_CHECK(n > 0, "random_below: n must be > 0, got ", n);
  const uint64_t un = static_cast<uint64_t>(n);
  // Accept only draws below the largest multiple of n, so every residue is equally likely.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % un;
  uint64_t r;
  do r = gen.next_u64();
  while (r >= limit);
  return static_cast<int64_t>(r % un);
}

void shuffle_in_place(std::vector<int64_t>& v, Generator& gen) {
  for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) std::swap(v[i], v[random_below(gen, i + 1)]);
}

std::vector<int64_t> balanced_subset(const std::vector<int64_t>& labels, int64_t per_class, Generator& gen,
                                     int64_t num_classes) {
  EMBER_CHECK(num_classes > 0, "balanced_subset: num_classes must be > 0, got ", num_classes);
  EMBER_CHECK(per_class >= 0, "balanced_subset: per_class must be >= 0, got ", per_class);
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    EMBER_CHECK(labels[i] >= 0 && labels[i] < num_classes, "balanced_subset: label ", labels[i], " at index ", i,
                " is outside [0, ", num_classes, ")");
    by_class[labels[i]].push_back(static_cast<int64_t>(i));
  }
  std::vector<int64_t> out;
  out.reserve(num_classes * per_class);
  for (int64_t k = 0; k < num_classes; ++k) {
    auto& members = by_class[k];
    EMBER_CHECK(static_cast<int64_t>(members.size()) >= per_class, "balanced_subset: class ", k, " has only ",
                members.size(), " examples, asked for ", per_class, " per class");
    shuffle_in_place(members, gen);
    out.insert(out.end(), members.begin(), members.begin() + per_class);
  }
  std::sort(out.begin(), out.end());
  return out;
}

IndexSplit split_validation(const std::vector<int64_t>& indices, int64_t count, Generator& gen) {
  const int64_t n = static_cast<int64_t>(indices.size());
  EMBER_CHECK(count >= 0 && count <= n, "split_validation: cannot hold out ", count, " of ", n, " indices");
  std::vector<int64_t> shuffled = indices;
  shuffle_in_place(shuffled, gen);
  IndexSplit s;
  s.valid.assign(shuffled.begin(), shuffled.begin() + count);
  s.train.assign(shuffled.begin() + count, shuffled.end());
  std::sort(s.valid.begin(), s.valid.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

IndexSplit split_validation(const std::vector<int64_t>& indices, double fraction, Generator& gen) {
  EMBER_CHECK(fraction >= 0.0 && fraction <= 1.0, "split_validation: fraction must lie in [0, 1], got ", fraction);
  const auto count = static_cast<int64_t>(std::llround(fraction * static_cast<double>(indices.size())));
  return split_validation(indices, count, gen);
}

}  // namespace ember::datasets
