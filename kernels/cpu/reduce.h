// kernels/cpu/reduce.h — reductions. The general case: the engine moves the reduced dims last
// and makes the input contiguous, so every reduction is over `rows` rows of length `n`. When
// the input is already contiguous and the reduced dims are one block, sum_middle reads it in
// place as (outer, n, inner) — the bias gradient Σ_rows g of a (rows, C) matrix costs no copy.
// Accumulation is in double for float inputs (a long float sum drifts otherwise); variance is
// two-pass.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ember::cpu {

template <class T>
void sum_rows(T* out, const T* in, int64_t rows, int64_t n, double scale) {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = in + r * n;
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(p[i]);
    out[r] = static_cast<T>(acc * scale);
  }
}

// in (outer, n, inner) → out (outer, inner) = scale · Σ_n in. Parallel over inner columns.
template <class T>
void sum_middle(T* out, const T* in, int64_t outer, int64_t n, int64_t inner, double scale) {
  constexpr int64_t kChunk = 256;  // columns per task: a double accumulator block in L1
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for collapse(2) if (outer * n * inner > (1 << 15)) schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t j0 = c * kChunk, j1 = std::min(inner, j0 + kChunk);
      double acc[kChunk] = {};
      for (int64_t i = 0; i < n; ++i) {
        const T* p = in + (o * n + i) * inner;
        for (int64_t j = j0; j < j1; ++j) acc[j - j0] += static_cast<double>(p[j]);
      }
      for (int64_t j = j0; j < j1; ++j) out[o * inner + j] = static_cast<T>(acc[j - j0] * scale);
    }
  }
}

// Max of each row and the index of its first occurrence (NaN propagates, as in PyTorch).
template <class T>
void max_rows(T* out, int64_t* index, const T* in, int64_t rows, int64_t n) {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = in + r * n;
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
      if (std::isnan(static_cast<double>(p[best]))) break;
      if (p[i] > p[best] || std::isnan(static_cast<double>(p[i]))) best = i;
    }
    out[r] = p[best];
    index[r] = best;
  }
}

template <class T>
void var_rows(T* out, const T* in, int64_t rows, int64_t n, int64_t correction) {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* p = in + r * n;
    double mean = 0, m2 = 0;
    for (int64_t i = 0; i < n; ++i) mean += static_cast<double>(p[i]);
    mean /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      double d = static_cast<double>(p[i]) - mean;
      m2 += d * d;
    }
    double denom = static_cast<double>(n - correction);
    out[r] = static_cast<T>(denom > 0 ? m2 / denom : NAN);
  }
}

// out (rows, n) zero except out[r, index[r]] = g[r]: the backward of max_rows.
template <class T>
void scatter_rows(T* out, const T* g, const int64_t* index, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows * n; ++i) out[i] = T(0);
  for (int64_t r = 0; r < rows; ++r) out[r * n + index[r]] = g[r];
}

}  // namespace ember::cpu
