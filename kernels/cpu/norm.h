// kernels/cpu/norm.h — layer norm and 2-D batch norm on raw pointers, forward and backward.
//
// Layer norm sees its input as `rows` rows of length `n` (the normalised trailing dims,
// flattened by the engine); batch norm sees (N, C, HW) and normalises each channel over N·HW.
// Variances are two-pass, so float inputs with a large mean do not lose their variance to
// cancellation; batch norm accumulates its statistics in double, layer norm in T over 16 lanes
// (see layer_norm_forward). The saved per-row (per-channel)
// mean and rstd = 1/√(var + eps) are what the backward passes consume: the fused formulas
// need nothing else from the forward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ember::cpu {

// ---------------- layer norm ----------------

// Σ_{i<n} f(i) in A, over 16 independent partial sums: one chain of dependent additions is bound
// by the adder's latency, 16 lanes let GCC vectorise the loop. The order of the additions is fixed
// (lane k takes i ≡ k mod 16, then the tail, then lanes 0…15), so results do not depend on the
// thread count or the machine.
template <class A, class F>
inline A lane_sum(int64_t n, F f) {
  A acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += f(i + k);
  A tail = 0;
  for (; i < n; ++i) tail += f(i);
  for (int k = 0; k < 16; ++k) tail += acc[k];
  return tail;
}

// x (rows, n) → y (rows, n), mean (rows), rstd (rows). weight/bias (n) may be null.
// Layer norm computes in T: float rows are summed in float over 16 lanes, so each partial sum
// adds n/16 terms (24 for BERT's 384) and the two-pass variance subtracts the row mean first;
// float64 is the reference (tests/test_norm_conv.cpp checks float32 against it at n = 384 with a
// large mean).
template <class T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int64_t rows,
                        int64_t n, double eps) {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    // Two passes: a first mean m0, then Σd and Σd² for d = x − m0 (the corrected two-pass
    // algorithm: m = m0 + Σd/n recovers what m0 lost to rounding, var = (Σd² − (Σd)²/n)/n).
    const T m0 = lane_sum<T>(n, [&](int64_t i) { return xr[i]; }) / static_cast<T>(n);
    T s1[16] = {}, s2[16] = {};
    int64_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16)
      for (int k = 0; k < 16; ++k) {
        const T d = xr[i0 + k] - m0;
        s1[k] += d, s2[k] += d * d;
      }
    T d1 = 0, d2 = 0;
    for (; i0 < n; ++i0) d1 += xr[i0] - m0, d2 += (xr[i0] - m0) * (xr[i0] - m0);
    for (int k = 0; k < 16; ++k) d1 += s1[k], d2 += s2[k];
    const double nd = static_cast<double>(n), sd = static_cast<double>(d1);
    const T m = static_cast<T>(static_cast<double>(m0) + sd / nd);
    const double var = std::max(0.0, (static_cast<double>(d2) - sd * sd / nd) / nd);
    const T rs = static_cast<T>(1.0 / std::sqrt(var + eps));
    if (weight && bias) {
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

// Rows per block of the backward's weight / bias sums: each block sums its rows into its own
// partial column sums (in double), and the blocks are added in order, so the result is the same
// whatever the thread count, and every access runs along rows, not down columns.
constexpr int64_t kLayerNormRowBlock = 64;

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
    const int64_t r_end = std::min(rows, (blk + 1) * kLayerNormRowBlock);
    for (int64_t r = blk * kLayerNormRowBlock; r < r_end; ++r) {
      const T* xr = x + r * n;
      const T* gr = g + r * n;
      const T m = mean[r], rs = rstd[r];
      if (sums)
        for (int64_t i = 0; i < n; ++i) {
          sw[i] += static_cast<double>(gr[i] * ((xr[i] - m) * rs));
          sb[i] += static_cast<double>(gr[i]);
        }
      if (!gx) continue;
      T* out = gx + r * n;
      if (weight) {
        const T mg = lane_sum<T>(n, [&](int64_t i) { return gr[i] * weight[i]; }) / static_cast<T>(n);
        const T mgx = lane_sum<T>(n, [&](int64_t i) { return gr[i] * weight[i] * ((xr[i] - m) * rs); }) /
                      static_cast<T>(n);
        for (int64_t i = 0; i < n; ++i) out[i] = rs * (gr[i] * weight[i] - mg - (xr[i] - m) * rs * mgx);
      } else {
        const T mg = lane_sum<T>(n, [&](int64_t i) { return gr[i]; }) / static_cast<T>(n);
        const T mgx = lane_sum<T>(n, [&](int64_t i) { return gr[i] * ((xr[i] - m) * rs); }) / static_cast<T>(n);
        for (int64_t i = 0; i < n; ++i) out[i] = rs * (gr[i] - mg - (xr[i] - m) * rs * mgx);
      }
    }
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

// x (N, C, HW) → per-channel mean (C) and biased variance (C).
template <class T>
void batch_norm_stats(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t HW) {
  const double count = static_cast<double>(N * HW);
#pragma omp parallel for if (N * C * HW > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double m = 0, m2 = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* p = x + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) m += static_cast<double>(p[i]);
    }
    m /= count;
    for (int64_t n = 0; n < N; ++n) {
      const T* p = x + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        double d = static_cast<double>(p[i]) - m;
        m2 += d * d;
      }
    }
    mean[c] = static_cast<T>(m);
    var[c] = static_cast<T>(m2 / count);
  }
}

// y = (x − mean[c])·rstd[c]·weight[c] + bias[c] over x (N, C, HW); weight/bias may be null.
template <class T>
void batch_norm_apply(T* y, const T* x, const T* mean, const T* rstd, const T* weight, const T* bias, int64_t N,
                      int64_t C, int64_t HW) {
#pragma omp parallel for if (N * C * HW > (1 << 15)) schedule(static)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const int64_t c = nc % C;
    const double scale = static_cast<double>(rstd[c]) * (weight ? static_cast<double>(weight[c]) : 1.0);
    const double m = static_cast<double>(mean[c]), b = bias ? static_cast<double>(bias[c]) : 0.0;
    const T* p = x + nc * HW;
    T* q = y + nc * HW;
    for (int64_t i = 0; i < HW; ++i) q[i] = static_cast<T>((static_cast<double>(p[i]) - m) * scale + b);
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
