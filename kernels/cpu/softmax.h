// kernels/cpu/softmax.h — softmax, log_softmax, the fused cross-entropy loss and the dropout mask,
// forward and backward, on raw pointers (float and double).
//
// Softmax along one dim of a contiguous tensor reads it as (outer, n, inner): a row is n values
// `inner` apart, so a softmax over a middle dim needs no permute-copy. Every row subtracts its
// max before exp (no overflow for large logits); exp runs in the tensor's precision (expf for
// float: the float32 tolerance already assumes it) and sums accumulate in double.
// The dropout mask turns a 0 / 1 keep mask drawn by the engine from the counter-based Philox
// stream into the 0 or 1/(1 − p) factors, so a CUDA kernel can draw the identical mask.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/cpu/isa.h"

#include "kernels/cpu/vec_math.h"

namespace ember::cpu {

constexpr int64_t kSoftmaxGrain = 1 << 15;  // below this many elements one core is faster

// One row: n values `stride` apart, in → out (log: log-softmax).
template <class T>
void softmax_row(T* out, const T* in, int64_t n, int64_t stride, bool log) {
  if (n == 0) return;
  T m = in[0];
#pragma omp simd reduction(max : m)
  for (int64_t j = 1; j < n; ++j) m = in[j * stride] > m ? in[j * stride] : m;
  const double mx = static_cast<double>(m);
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t j = 0; j < n; ++j) s += static_cast<double>(exp_k(in[j * stride] - m));
  if (log) {
    const double shift = mx + std::log(s);  // log Σ exp(x)
    for (int64_t j = 0; j < n; ++j) out[j * stride] = static_cast<T>(static_cast<double>(in[j * stride]) - shift);
  } else {
    const double inv = 1.0 / s;
    for (int64_t j = 0; j < n; ++j)
      out[j * stride] = static_cast<T>(static_cast<double>(exp_k(in[j * stride] - m)) * inv);
  }
}

// out, in: (outer, n, inner), softmax over n. A row of all −inf gives NaN, as in PyTorch.
template <class T>
void softmax_forward(T* out, const T* in, int64_t outer, int64_t n, int64_t inner, bool log) {
  const int64_t rows = outer * inner;
#pragma omp parallel for if (rows * n > kSoftmaxGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    softmax_row(out + base, in + base, n, inner, log);
  }
}

// gx, g, y: (outer, n, inner), y = softmax(x). gx = y ⊙ (g − Σ_n g ⊙ y).
template <class T>
void softmax_backward(T* gx, const T* g, const T* y, int64_t outer, int64_t n, int64_t inner) {
  const int64_t rows = outer * inner;
#pragma omp parallel for if (rows * n > kSoftmaxGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    double dot = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = base + j * inner;
      dot += static_cast<double>(g[k]) * static_cast<double>(y[k]);
    }
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = base + j * inner;
      gx[k] = static_cast<T>(static_cast<double>(y[k]) * (static_cast<double>(g[k]) - dot));
    }
  }
}

// gx, g, y: (outer, n, inner), y = log_softmax(x). gx = g − exp(y) ⊙ Σ_n g.
template <class T>
void log_softmax_backward(T* gx, const T* g, const T* y, int64_t outer, int64_t n, int64_t inner) {
  const int64_t rows = outer * inner;
#pragma omp parallel for if (rows * n > kSoftmaxGrain) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = (r / inner) * n * inner + r % inner;
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += static_cast<double>(g[base + j * inner]);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t k = base + j * inner;
      gx[k] = static_cast<T>(static_cast<double>(g[k]) - static_cast<double>(exp_k(y[k])) * s);
    }
  }
}

// log Σ_c exp(x[c]) of one row of C logits: max first, so exp never overflows.
template <class T>
double log_sum_exp_row(const T* x, int64_t C) {
  T mt = x[0];
#pragma omp simd reduction(max : mt)  // written as a select: GCC leaves a std::max loop scalar
  for (int64_t c = 1; c < C; ++c) mt = x[c] > mt ? x[c] : mt;
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < C; ++c) s += static_cast<double>(exp_k(x[c] - mt));
  return static_cast<double>(mt) + std::log(s);
}

// o[c] = exp(x[c] − lse)·scale over one row of C: the softmax recomputed from its saved lse.
template <class T>
void softmax_scaled_row(T* o, const T* x, T lse, T scale, int64_t C) {
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) o[c] = exp_k(x[c] - lse) * scale;
}

// logits (N, C), targets (N) already checked to lie in [0, C) or equal ignore_index.
// Writes lse (N) = log Σ_c exp(logits[r, c]) for kept rows (0 for ignored ones) and
// loss (1) = mean over kept rows of lse[r] − logits[r, targets[r]]; NaN when no row is kept
// (0/0, as PyTorch). Returns the number of kept rows. Float rows run in the widest vector code
// this CPU has (kernels/cpu/isa.h).
template <class T, class I>
int64_t cross_entropy_forward(T* loss, T* lse, const T* logits, const I* targets, int64_t N, int64_t C,
                              int64_t ignore_index) {
  double total = 0;
  int64_t count = 0;
#pragma omp parallel for if (N * C > kSoftmaxGrain) schedule(static) reduction(+ : total, count)
  for (int64_t r = 0; r < N; ++r) {
    const int64_t t = static_cast<int64_t>(targets[r]);
    if (t == ignore_index) {
      lse[r] = T(0);
      continue;
    }
    const T* x = logits + r * C;
    double l;
    if constexpr (std::is_same_v<T, float>) l = log_sum_exp_row_f32(x, C);
    else l = log_sum_exp_row(x, C);
    lse[r] = static_cast<T>(l);
    total += l - static_cast<double>(x[t]);
    ++count;
  }
  *loss = static_cast<T>(count > 0 ? total / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN());
  return count;
}

// gx (N, C) = (softmax(logits) − onehot(targets)) · scale for kept rows, 0 for ignored rows; every
// element is written, so gx may come uninitialised. scale = dL/dloss / count.
template <class T, class I>
void cross_entropy_backward(T* gx, const T* logits, const T* lse, const I* targets, int64_t N, int64_t C,
                            int64_t ignore_index, double scale) {
#pragma omp parallel for if (N * C > kSoftmaxGrain) schedule(static)
  for (int64_t r = 0; r < N; ++r) {
    const int64_t t = static_cast<int64_t>(targets[r]);
    T* o = gx + r * C;
    if (t == ignore_index) {
      std::fill(o, o + C, T(0));
      continue;
    }
    const T* x = logits + r * C;
    const T sc = static_cast<T>(scale);
    if constexpr (std::is_same_v<T, float>) softmax_scaled_row_f32(o, x, lse[r], sc, C);
    else softmax_scaled_row(o, x, lse[r], sc, C);
    o[t] -= sc;
  }
}

// mask (n) = keep[i] ? 1/(1−p) : 0, from the 0 / 1 keep mask the engine draws from Philox
// (philox_keep_mask in engine/random.h: element i survives when its uniform u_i ≥ p, u_i = word i
// of the counter stream · 2⁻³²), so a CUDA kernel reserving the same counters draws the same
// mask. p = 1 drops everything.
template <class T>
void dropout_mask(T* mask, const uint8_t* keep, int64_t n, double p) {
  const T kept = p < 1 ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) mask[i] = keep[i] ? kept : T(0);
}

}  // namespace ember::cpu
