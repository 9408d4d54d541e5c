// random.cpp — Philox-4x32-10 and the random tensor constructors built on it.
#include "engine/random.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "kernels/cpu/strided.h"

namespace ember {

// Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11): ten rounds of
// multiply-xor on a 4x32-bit counter with a Weyl-sequence key schedule.
namespace {

// The ten rounds on the counter words c (4) under the key words k0, k1; c becomes the output.
inline void philox_rounds(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = static_cast<uint64_t>(M0) * c0, p1 = static_cast<uint64_t>(M1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0, n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += W0;
    k1 += W1;
  }
}

}  // namespace

void Philox::block(uint64_t key, uint64_t counter_lo, uint64_t counter_hi, uint32_t out[4]) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  philox_rounds(c0, c1, c2, c3, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void Philox::blocks(uint64_t key, uint64_t first, int64_t n, uint32_t* out) {
  const uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  // Each block is independent: one SIMD lane per counter (32×32→64-bit multiplies vectorise).
#pragma omp simd
  for (int64_t b = 0; b < n; ++b) {
    const uint64_t ctr = first + static_cast<uint64_t>(b);
    uint32_t c0 = static_cast<uint32_t>(ctr), c1 = static_cast<uint32_t>(ctr >> 32), c2 = 0, c3 = 0;
    philox_rounds(c0, c1, c2, c3, k0, k1);
    out[4 * b] = c0, out[4 * b + 1] = c1, out[4 * b + 2] = c2, out[4 * b + 3] = c3;
  }
}

void philox_keep_mask(uint8_t* keep, uint64_t key, uint64_t first, int64_t word0, int64_t n, double p) {
  if (n <= 0) return;
  // word·2⁻³² >= p  ⇔  word >= ceil(p·2³²) (both sides exact in double); p = 1 keeps nothing.
  const uint64_t threshold = static_cast<uint64_t>(std::ceil(p * 0x1p32));
  constexpr int64_t kChunk = 256;  // blocks per pass: 4 KiB of words on the stack
  uint32_t words[4 * kChunk];
  const int64_t b_begin = word0 / 4, b_end = (word0 + n + 3) / 4;
  for (int64_t b = b_begin; b < b_end; b += kChunk) {
    const int64_t nb = std::min(kChunk, b_end - b);
    Philox::blocks(key, first + static_cast<uint64_t>(b), nb, words);
    const int64_t lo = std::max(word0, 4 * b), hi = std::min(word0 + n, 4 * (b + nb));
    for (int64_t w = lo; w < hi; ++w) keep[w - word0] = words[w - 4 * b] >= threshold ? 1 : 0;
  }
}

uint64_t Generator::next_u64() {
  uint32_t r[4];
  Philox::block(seed_, advance(1), 0, r);
  return (static_cast<uint64_t>(r[0]) << 32) | r[1];
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  // Box–Muller; 1 - u keeps the log's argument in (0, 1].
  double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

Generator& default_generator() {
  static Generator g(0);
  return g;
}
void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

namespace {
// Fills a fresh CPU float64 tensor from `draw`, then converts to the requested options.
template <class F>
Tensor generate(const Shape& shape, Options o, F draw) {
  Tensor host = empty(shape, Options(DType::F64));
  double* p = host.data<double>();
  for (int64_t i = 0; i < host.numel(); ++i) p[i] = draw();
  Tensor t = host.to(o.dtype).to(o.device);
  if (o.requires_grad) {
    if (t.impl() == host.impl()) t = t.detach();
    t.requires_grad_(true);
  }
  return t;
}
Generator& pick(Generator* g) { return g ? *g : default_generator(); }
}  // namespace

Tensor rand(const Shape& shape, Options o, Generator* gen) {
  Generator& g = pick(gen);
  return generate(shape, o, [&] { return g.uniform(); });
}

Tensor randn(const Shape& shape, Options o, Generator* gen) {
  Generator& g = pick(gen);
  return generate(shape, o, [&] { return g.normal(); });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Options o, Generator* gen) {
  EMBER_CHECK(high > low, "randint: expected low < high, got [", low, ", ", high, ")");
  Generator& g = pick(gen);
  uint64_t span = static_cast<uint64_t>(high - low);
  return generate(shape, o, [&] { return static_cast<double>(low + static_cast<int64_t>(g.next_u64() % span)); });
}

void uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  NoGradGuard ng;
  Tensor r = rand(t.shape(), Options(DType::F64), gen);
  double* p = r.data<double>();
  for (int64_t i = 0; i < r.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
  copy_(t, r.to(t.device()));
}

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  NoGradGuard ng;
  Tensor r = randn(t.shape(), Options(DType::F64), gen);
  double* p = r.data<double>();
  for (int64_t i = 0; i < r.numel(); ++i) p[i] = mean + std * p[i];
  copy_(t, r.to(t.device()));
}

}  // namespace ember
