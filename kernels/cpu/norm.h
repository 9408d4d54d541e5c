// kernels/cpu/norm.h — layer norm and 2-D batch norm on raw pointers, forward and backward.
//
// Layer norm sees its input as `rows` rows of length `n` (the normalised trailing dims,
// flattened by the engine); batch norm sees (N, C, HW) and normalises each channel over N·HW.
// Variances are two-pass, so float inputs with a large mean do not lose their variance to
// cancellation; batch norm accumulates its statistics in double, layer norm in T over the
// vector lanes (see layer_norm_forward_rows). The saved per-row (per-channel)
// mean and rstd = 1/√(var + eps) are what the backward passes consume: the fused formulas
// need nothing else from the forward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cpu/isa.h"

namespace ember::cpu {

// ---------------- layer norm ----------------

// Rows [r0, r1) of x (rows, n) → y, mean, rstd: the body of layer_norm_forward below.
// Layer norm computes in T: float rows are summed in float by `omp simd` reductions (one partial
// sum per vector lane: 16 for AVX-512, each adding 24 of BERT's 384 terms), and the two-pass
// variance subtracts the row mean first; float64 is the reference (tests/test_norm_conv.cpp checks
// float32 against it at n = 384 with a large mean). The lane count follows the ISA level, so float
// results can differ in the last bits between levels, never between thread counts.
template <class T>
void layer_norm_forward_rows(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int64_t r0,
                             int64_t r1, int64_t n, double eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    // Two passes: a first mean m0, then Σd and Σd² for d = x − m0 (the corrected two-pass
    // algorithm: m = m0 + Σd/n recovers what m0 lost to rounding, var = (Σd² − (Σd)²/n)/n).
    T s0 = 0;
#pragma omp simd reduction(+ : s0)
    for (int64_t i = 0; i < n; ++i) s0 += xr[i];
    const T m0 = s0 / static_cast<T>(n);
    T d1 = 0, d2 = 0;
#pragma omp simd reduction(+ : d1, d2)
    for (int64_t i = 0; i < n; ++i) {
      const T d = xr[i] - m0;
      d1 += d, d2 += d * d;
    }
    const double nd = static_cast<double>(n), sd = static_cast<double>(d1);
    const T m = static_cast<T>(static_cast<double>(m0) + sd / nd);
    const double var = std::max(0.0, (static_cast<double>(d2) - sd * sd / nd) / nd);
    const T rs = static_cast<T>(1.0 / std::sqrt(var + eps));
    if (weight && bias) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * rs * weight[i] + bias[i];
    } else {
      for (int64_t i = 0; i < n; ++i) {
        T v = (xr[i] - m) * rs;
        if (weight) v *= weight[i];
        if (bias) v += bias[i];
        yr[i] = v;
      }
    }
    mean[r] = m;
    rstd[r] = rs;
  }
}

// Rows per task of layer norm's forward and backward. In the backward each block sums its rows
// into its own partial column sums (in double), and the blocks are added in order, so the result
// is the same whatever the thread count, and every access runs along rows, not down columns.
constexpr int64_t kLayerNormRowBlock = 64;

// x (rows, n) → y (rows, n), mean (rows), rstd (rows). weight/bias (n) may be null.
// Float rows run in the widest vector code this CPU has (kernels/cpu/isa.h).
template <class T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int64_t rows,
                        int64_t n, double eps) {
  const int64_t blocks = (rows + kLayerNormRowBlock - 1) / kLayerNormRowBlock;
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t r0 = blk * kLayerNormRowBlock, r1 = std::min(rows, r0 + kLayerNormRowBlock);
    if constexpr (std::is_same_v<T, float>)
      layer_norm_forward_rows_f32(y, mean, rstd, x, weight, bias, r0, r1, n, eps);
    else
      layer_norm_forward_rows(y, mean, rstd, x, weight, bias, r0, r1, n, eps);
  }
}

// Rows [r0, r1) of layer_norm_backward: gx rows (gx may be null) and, when sw is not null, the
// rows' g⊙x̂ and g added into the column sums sw, sb (n each).
template <class T>
void layer_norm_backward_rows(T* gx, double* sw, double* sb, const T* g, const T* x, const T* mean, const T* rstd,
                              const T* weight, int64_t r0, int64_t r1, int64_t n) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* xr = x + r * n;
    const T* gr = g + r * n;
    const T m = mean[r], rs = rstd[r];
    if (sw)
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        sw[i] += static_cast<double>(gr[i] * ((xr[i] - m) * rs));
        sb[i] += static_cast<double>(gr[i]);
      }
    if (!gx) continue;
    T* out = gx + r * n;
    // mg = mean(ĝ), mgx = mean(ĝ⊙x̂) with ĝ = g⊙weight (weight null: ones).
    T sg = 0, sgx = 0;
    if (weight) {
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t i = 0; i < n; ++i) {
        const T gw = gr[i] * weight[i];
        sg += gw, sgx += gw * ((xr[i] - m) * rs);
      }
    } else {
#pragma omp simd reduction(+ : sg, sgx)
      for (int64_t i = 0; i < n; ++i) sg += gr[i], sgx += gr[i] * ((xr[i] - m) * rs);
    }
    const T mg = sg / static_cast<T>(n), mgx = sgx / static_cast<T>(n);
    if (weight) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = rs * (gr[i] * weight[i] - mg - (xr[i] - m) * rs * mgx);
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) out[i] = rs * (gr[i] - mg - (xr[i] - m) * rs * mgx);
    }
  }
}

// Backward of layer_norm_forward. With x̂ = (x − mean)·rstd and ĝ = g⊙weight:
//   gx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)),  gweight = Σ_rows g⊙x̂,  gbias = Σ_rows g.
// Any of gx, gweight, gbias may be null (not wanted); weight null means all ones.
template <class T>
void layer_norm_backward(T* gx, T* gweight, T* gbias, const T* g, const T* x, const T* mean, const T* rstd,
                         const T* weight, int64_t rows, int64_t n) {
  const bool sums = gweight || gbias;
  const int64_t blocks = (rows + kLayerNormRowBlock - 1) / kLayerNormRowBlock;
  // Per block: n partial sums of g⊙x̂, then n of g (in double: a block adds up to 64 terms).
  std::vector<double> part(sums ? static_cast<size_t>(blocks * 2 * n) : 0, 0.0);
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    double* sw = sums ? part.data() + blk * 2 * n : nullptr;
    double* sb = sums ? sw + n : nullptr;
    const int64_t r0 = blk * kLayerNormRowBlock, r1 = std::min(rows, r0 + kLayerNormRowBlock);
    if constexpr (std::is_same_v<T, float>)
      layer_norm_backward_rows_f32(gx, sw, sb, g, x, mean, rstd, weight, r0, r1, n);
    else
      layer_norm_backward_rows(gx, sw, sb, g, x, mean, rstd, weight, r0, r1, n);
  }
  if (!sums) return;
  for (int64_t i = 0; i < n; ++i) {
    double sw = 0, sb = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) sw += part[blk * 2 * n + i], sb += part[blk * 2 * n + n + i];
    if (gweight) gweight[i] = static_cast<T>(sw);
    if (gbias) gbias[i] = static_cast<T>(sb);
  }
}

// ---------------- batch norm (2-D: per channel over N, H, W) ----------------

// The statistics go in blocks of kChannelBlock channels, each channel's double sum still one chain
// in (n, i) order but the block's chains interleaved: a channel-at-a-time loop waited on one double
// add after another (4 cycles each); the block keeps eight in flight, 1.4–2× faster on ResNet18's
// shapes (single thread, this Xeon). The order within each channel is unchanged, so the results
// are the bits of the one-channel loop. The backward's sums do more scalar double work per element
// than the chain's latency, and blocking them measured no faster, so they stay one channel at a time.
inline constexpr int64_t kChannelBlock = 8;

namespace detail {

// f(j, e) for the elements e = (n·C + c0 + j)·HW + i of channels c0 + j, j < CB, of an (N, C, HW)
// array, n outer, i inner, j innermost: f accumulates each channel's sums in that order, CB chains
// interleaved (CB a constant, so the unrolled j loop keeps them in registers).
template <int CB, class F>
inline void for_channel_block(int64_t N, int64_t C, int64_t HW, int64_t c0, F f) {
  for (int64_t n = 0; n < N; ++n) {
    const int64_t e0 = (n * C + c0) * HW;
    for (int64_t i = 0; i < HW; ++i) {
#pragma GCC unroll 8
      for (int j = 0; j < CB; ++j) f(j, e0 + j * HW + i);
    }
  }
}

// body(c0, cb_constant) over the channel blocks of C (parallel): full blocks with CB = kChannelBlock,
// the last C % kChannelBlock channels one at a time (CB = 1).
template <class Body>
void over_channel_blocks(int64_t C, bool parallel, Body body) {
  const int64_t full = C / kChannelBlock, rest = C % kChannelBlock;
#pragma omp parallel for if (parallel) schedule(static)
  for (int64_t blk = 0; blk < full + rest; ++blk) {
    if (blk < full)
      body(blk * kChannelBlock, std::integral_constant<int, kChannelBlock>{});
    else
      body(full * kChannelBlock + (blk - full), std::integral_constant<int, 1>{});
  }
}

}  // namespace detail

// x (N, C, HW) → per-channel mean (C) and biased variance (C).
template <class T>
void batch_norm_stats(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t HW) {
  const double count = static_cast<double>(N * HW);
  detail::over_channel_blocks(C, N * C * HW > (1 << 15), [&](int64_t c0, auto cb) {
    constexpr int CB = decltype(cb)::value;
    double m[CB] = {}, m2[CB] = {};
    detail::for_channel_block<CB>(N, C, HW, c0, [&](int j, int64_t e) { m[j] += static_cast<double>(x[e]); });
    for (int j = 0; j < CB; ++j) m[j] /= count;
    detail::for_channel_block<CB>(N, C, HW, c0, [&](int j, int64_t e) {
      const double d = static_cast<double>(x[e]) - m[j];
      m2[j] += d * d;
    });
    for (int j = 0; j < CB; ++j) {
      mean[c0 + j] = static_cast<T>(m[j]);
      var[c0 + j] = static_cast<T>(m2[j] / count);
    }
  });
}

// y = (x − mean[c])·rstd[c]·weight[c] + bias[c] over x (N, C, HW); weight/bias may be null.
template <class T>
void batch_norm_apply(T* y, const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t N,
                      int64_t C, int64_t HW) {
  // Per channel in double: the mean, rstd·weight and the bias, once rather than per (n, c) row.
  std::vector<double> m(static_cast<size_t>(C)), scale(static_cast<size_t>(C)), b(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    m[c] = static_cast<double>(mean[c]);
    scale[c] = static_cast<double>(rstd[c]) * (weight ? static_cast<double>(weight[c]) : 1.0);
    b[c] = bias ? static_cast<double>(bias[c]) : 0.0;
  }
#pragma omp parallel for collapse(2) if (N * C * HW > (1 << 15)) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T* p = x + (n * C + c) * HW;
      T* q = y + (n * C + c) * HW;
      const double mc = m[c], sc = scale[c], bc = b[c];
      for (int64_t i = 0; i < HW; ++i) q[i] = static_cast<T>((static_cast<double>(p[i]) - mc) * sc + bc);
    }
}

// running = (1 − momentum)·running + momentum·stat, with the unbiased variance var·M/(M−1)
// (M = N·HW) going into running_var, as torch.nn.BatchNorm2d does. Either pointer may be null.
template <class T>
void batch_norm_update_running(T* running_mean, T* running_var, const T* mean, const T* var, int64_t C,
                               int64_t M, double momentum) {
  const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
  for (int64_t c = 0; c < C; ++c) {
    if (running_mean)
      running_mean[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_mean[c]) +
                                       momentum * static_cast<double>(mean[c]));
    if (running_var)
      running_var[c] = static_cast<T>((1 - momentum) * static_cast<double>(running_var[c]) +
                                      momentum * static_cast<double>(var[c]) * unbias);
  }
}

// Backward over x (N, C, HW) with x̂ = (x − mean)·rstd, per channel (M = N·HW):
//   training (batch statistics): gx = weight·rstd·(g − Σg/M − x̂·Σ(g⊙x̂)/M)
//   eval (fixed running statistics): gx = weight·rstd·g
//   both: gweight = Σ g⊙x̂, gbias = Σ g.
// Any of gx, gweight, gbias may be null; weight null means all ones.
template <class T>
void batch_norm_backward(T* gx, T* gweight, T* gbias, const T* g, const T* x, const T* mean, const T* rstd,
                         const T* weight, int64_t N, int64_t C, int64_t HW, bool training) {
  const double M = static_cast<double>(N * HW);
#pragma omp parallel for if (N * C * HW > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    const double m = static_cast<double>(mean[c]), rs = static_cast<double>(rstd[c]);
    double sum_g = 0, sum_gx = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* gp = g + (n * C + c) * HW;
      const T* xp = x + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        sum_g += static_cast<double>(gp[i]);
        sum_gx += static_cast<double>(gp[i]) * (static_cast<double>(xp[i]) - m) * rs;
      }
    }
    if (gweight) gweight[c] = static_cast<T>(sum_gx);
    if (gbias) gbias[c] = static_cast<T>(sum_g);
    if (!gx) continue;
    const double k = rs * (weight ? static_cast<double>(weight[c]) : 1.0);
    const double mg = training ? sum_g / M : 0.0, mgx = training ? sum_gx / M : 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const T* gp = g + (n * C + c) * HW;
      const T* xp = x + (n * C + c) * HW;
      T* out = gx + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        double xh = (static_cast<double>(xp[i]) - m) * rs;
        out[i] = static_cast<T>(k * (static_cast<double>(gp[i]) - mg - xh * mgx));
      }
    }
  }
}

}  // namespace ember::cpu
