// random.h — seeded random numbers: same seed, same numbers, on every platform.
//
// The generator is counter-based (Philox-4x32-10, the generator cuRAND and PyTorch's CUDA
// side use): the n-th number depends only on (seed, n), so a CUDA kernel can produce the
// same stream in parallel. Normals come from Box–Muller written here, not from
// std::normal_distribution, whose output differs between standard libraries.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

namespace ember {

// Philox-4x32-10: 4 random 32-bit words from a 128-bit counter and a 64-bit key.
struct Philox {
  static void block(uint64_t key, uint64_t counter_lo, uint64_t counter_hi, uint32_t out[4]);
  // The blocks of counters first, first + 1, …, first + n − 1 (high word 0), 4·n words into out:
  // the same words as n calls of block(), computed n at a time so the compiler vectorises them.
  static void blocks(uint64_t key, uint64_t first, int64_t n, uint32_t* out);
};

// keep[i] = 1 when word i of the stream blocks(key, first, ·) is ≥ p·2³² (that is, its uniform
// u = word·2⁻³² is ≥ p: the element survives dropout at rate p), else 0, for words
// [word0, word0 + n). Exactly the test `word · 2⁻³² >= p` in double, element by element.
void philox_keep_mask(uint8_t* keep, uint64_t key, uint64_t first, int64_t word0, int64_t n, double p);

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(uint64_t seed) { seed_ = seed; offset_ = 0; }
  uint64_t seed() const { return seed_; }
  // Reserves n 128-bit counter blocks and returns the first one (for kernels).
  uint64_t advance(uint64_t nblocks) { uint64_t o = offset_; offset_ += nblocks; return o; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t o) { offset_ = o; }

  double uniform();  // [0, 1)
  double normal();   // N(0, 1)
  uint64_t next_u64();

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // seeds the default generator

Tensor rand(const Shape& shape, Options o = {}, Generator* gen = nullptr);   // U[0,1)
Tensor randn(const Shape& shape, Options o = {}, Generator* gen = nullptr);  // N(0,1)
// Integers in [low, high).
Tensor randint(int64_t low, int64_t high, const Shape& shape, Options o = Options(DType::I64),
               Generator* gen = nullptr);
// U[lo, hi) in place (no autograd): how nn modules initialise their parameters.
void uniform_(Tensor& t, double lo, double hi, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);

}  // namespace ember
