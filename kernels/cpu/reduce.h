// kernels/cpu/reduce.h — row reductions: the engine moves the reduced dims last and makes the
// input contiguous, so every reduction is over `rows` rows of length `n`. Accumulation is in
// double for float inputs (a long float sum drifts otherwise); variance is two-pass.
#pragma once

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
