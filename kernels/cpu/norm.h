// kernels/cpu/norm.h — layer norm and 2-D batch norm on raw pointers, forward and backward.
//
// Layer norm sees its input as `rows` rows of length `n` (the normalised trailing dims,
// flattened by the engine); batch norm sees (N, C, HW) and normalises each channel over N·HW.
// Statistics are accumulated in double and variances are two-pass, so float inputs with a
// large mean do not lose their variance to cancellation. The saved per-row (per-channel)
// mean and rstd = 1/√(var + eps) are what the backward passes consume: the fused formulas
// need nothing else from the forward.
#pragma once

#include <cmath>
#include <cstdint>

namespace ember::cpu {

// ---------------- layer norm ----------------

// x (rows, n) → y (rows, n), mean (rows), rstd (rows). weight/bias (n) may be null.
template <class T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* weight, const T* bias, int64_t rows,
                        int64_t n, double eps) {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    double m = 0, m2 = 0;
    for (int64_t i = 0; i < n; ++i) m += static_cast<double>(xr[i]);
    m /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      double d = static_cast<double>(xr[i]) - m;
      m2 += d * d;
    }
    const double rs = 1.0 / std::sqrt(m2 / static_cast<double>(n) + eps);
    for (int64_t i = 0; i < n; ++i) {
      double v = (static_cast<double>(xr[i]) - m) * rs;
      if (weight) v *= static_cast<double>(weight[i]);
      if (bias) v += static_cast<double>(bias[i]);
      yr[i] = static_cast<T>(v);
    }
    mean[r] = static_cast<T>(m);
    rstd[r] = static_cast<T>(rs);
  }
}

// Backward of layer_norm_forward. With x̂ = (x − mean)·rstd and ĝ = g⊙weight:
//   gx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ⊙x̂)),  gweight = Σ_rows g⊙x̂,  gbias = Σ_rows g.
// Any of gx, gweight, gbias may be null (not wanted); weight null means all ones.
template <class T>
void layer_norm_backward(T* gx, T* gweight, T* gbias, const T* g, const T* x, const T* mean, const T* rstd,
                         const T* weight, int64_t rows, int64_t n) {
  if (gx) {
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * n;
      const T* gr = g + r * n;
      const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
      double sum_g = 0, sum_gx = 0;  // Σ ĝ, Σ ĝ⊙x̂
      for (int64_t i = 0; i < n; ++i) {
        double gh = static_cast<double>(gr[i]) * (weight ? static_cast<double>(weight[i]) : 1.0);
        sum_g += gh;
        sum_gx += gh * (static_cast<double>(xr[i]) - m) * rs;
      }
      const double mg = sum_g / static_cast<double>(n), mgx = sum_gx / static_cast<double>(n);
      T* out = gx + r * n;
      for (int64_t i = 0; i < n; ++i) {
        double gh = static_cast<double>(gr[i]) * (weight ? static_cast<double>(weight[i]) : 1.0);
        double xh = (static_cast<double>(xr[i]) - m) * rs;
        out[i] = static_cast<T>(rs * (gh - mg - xh * mgx));
      }
    }
  }
  if (!gweight && !gbias) return;
  // Column sums over rows: each thread owns a slice of the n columns.
#pragma omp parallel for if (rows * n > (1 << 15)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double sw = 0, sb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double gv = static_cast<double>(g[r * n + i]);
      sw += gv * (static_cast<double>(x[r * n + i]) - static_cast<double>(mean[r])) * static_cast<double>(rstd[r]);
      sb += gv;
    }
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
