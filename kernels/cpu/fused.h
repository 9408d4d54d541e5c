// kernels/cpu/fused.h — CPU reference kernels of the two fused sequence ops: one LSTM cell step
// and scaled dot-product attention, each a forward and a backward on raw pointers.
//
// They are the ground truth the CUDA kernels are checked against, so they favour clarity:
//  - the LSTM kernels are one flat loop over (b, j), each iteration exactly the work of one
//    CUDA thread (it reads its four gate pre-activations, writes its h', c' and saved state);
//  - attention works head by head with full (Tq, Tk) score matrices through cpu::gemm and saves
//    only the row log-sum-exp, from which the backward recomputes the probabilities (the
//    FlashAttention recipe, without the tiling).
// Everything is row-major and contiguous unless strides are passed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec_math.h"

namespace ember::cpu {

constexpr int64_t kFusedParallelGrain = 1 << 14;  // below this many (b, j) one core is faster

template <class T>
inline T sigmoid_of(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// ---------------------------------------------------------------------------------------------
// LSTM cell. gates (B, 4H) hold the pre-activations in torch.nn.LSTM's order i, f, g, o.
// act (B, 5H) is the state the backward needs: σ(i), σ(f), tanh(g), σ(o), tanh(c') per row.
// ---------------------------------------------------------------------------------------------

template <class T>
void lstm_cell_forward(T* h_new, T* c_new, T* act, const T* gates, const T* c, int64_t B, int64_t H) {
  // h_new, c_new, c: (B, H); gates: (B, 4H); act: (B, 5H)
#pragma omp parallel for if (B * H > kFusedParallelGrain) schedule(static)
  for (int64_t n = 0; n < B * H; ++n) {
    const int64_t b = n / H, j = n % H;
    const T* gr = gates + b * 4 * H;
    T* ar = act + b * 5 * H;
    const T i = sigmoid_of(gr[j]);
    const T f = sigmoid_of(gr[H + j]);
    const T g = std::tanh(gr[2 * H + j]);
    const T o = sigmoid_of(gr[3 * H + j]);
    const T cn = f * c[n] + i * g;
    const T tc = std::tanh(cn);
    c_new[n] = cn;
    h_new[n] = o * tc;
    ar[j] = i;
    ar[H + j] = f;
    ar[2 * H + j] = g;
    ar[3 * H + j] = o;
    ar[4 * H + j] = tc;
  }
}

// From the upstream (dh', dc') to (dgates, dc):
//   dc_total = dc' + dh'·o·(1 − tanh²(c'))
//   dgi = dc_total·g·i(1−i)   dgf = dc_total·c·f(1−f)   dgg = dc_total·i·(1−g²)
//   dgo = dh'·tanh(c')·o(1−o) dc  = dc_total·f
template <class T>
void lstm_cell_backward(T* dgates, T* dc, const T* dh_new, const T* dc_new, const T* act, const T* c, int64_t B,
                        int64_t H) {
  // dgates: (B, 4H); dc, dh_new, dc_new, c: (B, H); act: (B, 5H)
#pragma omp parallel for if (B * H > kFusedParallelGrain) schedule(static)
  for (int64_t n = 0; n < B * H; ++n) {
    const int64_t b = n / H, j = n % H;
    const T* ar = act + b * 5 * H;
    T* dr = dgates + b * 4 * H;
    const T i = ar[j], f = ar[H + j], g = ar[2 * H + j], o = ar[3 * H + j], tc = ar[4 * H + j];
    const T dct = dc_new[n] + dh_new[n] * o * (T(1) - tc * tc);
    dr[j] = dct * g * i * (T(1) - i);
    dr[H + j] = dct * c[n] * f * (T(1) - f);
    dr[2 * H + j] = dct * i * (T(1) - g * g);
    dr[3 * H + j] = dh_new[n] * tc * o * (T(1) - o);
    dc[n] = dct * f;
  }
}

// ---------------------------------------------------------------------------------------------
// LSTM layer: the cell above over T steps, with the recurrent GEMM h_{t−1}·W_hhᵀ inside the loop.
// xproj (T, B, 4H) holds x_t·W_ihᵀ + b_ih; w_hh (4H, H); b_hh (4H) or null; h0, c0 (B, H).
// Forward writes out (T, B, H) = every h_t, c_all (T, B, H) = every c_t and, every act_stride
// elements, the cell's saved state (act_stride = B·5H keeps all T for the backward, 0 reuses
// one (B, 5H) buffer); gates is a (B, 4H) scratch.
// ---------------------------------------------------------------------------------------------

template <class T>
void lstm_layer_forward(T* out, T* c_all, T* act, int64_t act_stride, T* gates, const T* xproj, const T* w_hh,
                        const T* b_hh, const T* h0, const T* c0, int64_t steps, int64_t B, int64_t H) {
  const int64_t G = 4 * H;
  for (int64_t t = 0; t < steps; ++t) {
    const T* xp = xproj + t * B * G;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < G; ++j) gates[b * G + j] = xp[b * G + j] + (b_hh ? b_hh[j] : T(0));
    const T* h_prev = t == 0 ? h0 : out + (t - 1) * B * H;
    const T* c_prev = t == 0 ? c0 : c_all + (t - 1) * B * H;
    gemm<T>(false, true, B, G, H, T(1), h_prev, H, w_hh, H, T(1), gates, G);
    lstm_cell_forward(out + t * B * H, c_all + t * B * H, act + t * act_stride, gates, c_prev, B, H);
  }
}

// The reverse pass: from dout (T, B, H) and the final state's upstream dh_T, dc_T (B, H) to
// dgates (T, B, 4H) (which is d xproj) and dh0, dc0 (B, H). act holds all T steps' state.
// Per step: dh += dout_t; (dgates_t, dc) = cell backward; dh = dgates_t·W_hh (the recurrence).
template <class T>
void lstm_layer_backward(T* dgates, T* dh0, T* dc0, const T* dout, const T* dh_last, const T* dc_last, const T* act,
                         const T* c_all, const T* c0, const T* w_hh, int64_t steps, int64_t B, int64_t H) {
  const int64_t G = 4 * H, BH = B * H;
  std::vector<T> dh(dh_last, dh_last + BH), dc(dc_last, dc_last + BH), dc_prev(static_cast<size_t>(BH));
  for (int64_t t = steps - 1; t >= 0; --t) {
    const T* dout_t = dout + t * BH;
    for (int64_t n = 0; n < BH; ++n) dh[n] += dout_t[n];
    const T* c_prev = t == 0 ? c0 : c_all + (t - 1) * BH;
    T* dg = dgates + t * B * G;
    lstm_cell_backward(dg, dc_prev.data(), dh.data(), dc.data(), act + t * B * 5 * H, c_prev, B, H);
    gemm<T>(false, false, B, H, G, T(1), dg, G, w_hh, H, T(0), dh.data(), H);
    dc.swap(dc_prev);
  }
  std::copy(dh.begin(), dh.end(), dh0);
  std::copy(dc.begin(), dc.end(), dc0);
}

// ---------------------------------------------------------------------------------------------
// Scaled dot-product attention, one (b, h) head at a time:
//   S = scale·Q·Kᵀ + bias,  P = softmax_rows(S),  P̃ = P ⊙ keep / (1 − p),  O = P̃·V.
// bias (optional, may be null) is read through four strides over (B, H, Tq, Tk), 0 on a
// broadcast dim; −inf marks a masked position. A row whose every position is masked gets
// P = 0, so O = 0 and no gradient flows through it; its lse is stored as +inf so that the
// backward's exp(S − lse) recomputes those zeros.
// Dropout: keep.fill(mask, idx0, n) writes mask[i] = 1 when the probability at flat (b, h, i, j)
// index idx0 + i survives, else 0; the engine backs it by a counter-based Philox stream, so
// forward and backward regenerate the same mask, one head at a time, without storing it.
// ---------------------------------------------------------------------------------------------

struct AttentionDims {
  int64_t B, H, Tq, Tk, D, Dv;
  double scale;
  const int64_t* bias_strides;  // 4 strides over (B, H, Tq, Tk) when there is a bias
};

namespace detail {

// S (Tq, Tk) = scale·Q·Kᵀ + bias for head (b, h).
template <class T>
void attention_scores(T* S, const T* q, const T* k, const T* bias, const AttentionDims& d, int64_t b, int64_t h) {
  gemm<T>(false, true, d.Tq, d.Tk, d.D, static_cast<T>(d.scale), q, d.D, k, d.D, T(0), S, d.Tk);
  if (!bias) return;
  const int64_t* st = d.bias_strides;
  const T* bh = bias + b * st[0] + h * st[1];
  for (int64_t i = 0; i < d.Tq; ++i)
    for (int64_t j = 0; j < d.Tk; ++j) S[i * d.Tk + j] += bh[i * st[2] + j * st[3]];
}

// In place: S row → P row; returns the row's log-sum-exp (+inf when fully masked). exp_k is
// the vectorised exp_fast in float and std::exp in double (kernels/cpu/vec_math.h).
template <class T>
T softmax_row(T* s, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)  // written as a select: GCC leaves a std::max loop scalar
  for (int64_t j = 0; j < n; ++j) m = s[j] > m ? s[j] : m;
  if (m == -std::numeric_limits<T>::infinity()) {
    std::fill(s, s + n, T(0));
    return std::numeric_limits<T>::infinity();
  }
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) s[j] = exp_k(s[j] - m);
  double z = 0;
#pragma omp simd reduction(+ : z)
  for (int64_t j = 0; j < n; ++j) z += static_cast<double>(s[j]);
  const T inv = static_cast<T>(1.0 / z);
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
  return m + static_cast<T>(std::log(z));
}

// P (Tq, Tk) ← P ⊙ keep / (1 − p) for one head, keep its (Tq, Tk) mask of 0 / 1.
template <class T>
void apply_dropout(T* P, const uint8_t* keep, int64_t n, double p) {
  const T survivor = static_cast<T>(1.0 / (1.0 - p));
#pragma omp simd
  for (int64_t e = 0; e < n; ++e) P[e] = keep[e] ? P[e] * survivor : T(0);
}

}  // namespace detail

// q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv) → out (B, H, Tq, Dv), lse (B, H, Tq).
// dropout_p == 0 skips the mask (keep is never called).
template <class T, class Keep>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v, const T* bias, const AttentionDims& d,
                       double dropout_p, const Keep& keep) {
  // Heads are independent: one per thread, each with its own (Tq, Tk) buffer; the GEMMs inside
  // run single-threaded there (OpenMP OpenBLAS does not nest), which beats threading small GEMMs.
  const int64_t n = d.Tq * d.Tk;
#pragma omp parallel if (d.B * d.H > 1)
  {
    std::vector<T> P(static_cast<size_t>(n));  // (Tq, Tk), reused by this thread's heads
    std::vector<uint8_t> mask(dropout_p > 0 ? static_cast<size_t>(n) : 0);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < d.B * d.H; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const T* qh = q + bh * d.Tq * d.D;
      const T* kh = k + bh * d.Tk * d.D;
      const T* vh = v + bh * d.Tk * d.Dv;
      detail::attention_scores(P.data(), qh, kh, bias, d, b, h);
      for (int64_t i = 0; i < d.Tq; ++i) lse[bh * d.Tq + i] = detail::softmax_row(P.data() + i * d.Tk, d.Tk);
      if (dropout_p > 0) {
        keep.fill(mask.data(), bh * n, n);
        detail::apply_dropout(P.data(), mask.data(), n, dropout_p);
      }
      gemm<T>(false, false, d.Tq, d.Dv, d.Tk, T(1), P.data(), d.Tk, vh, d.Dv, T(0), out + bh * d.Tq * d.Dv, d.Dv);
    }
  }
}

// From dO (B, H, Tq, Dv) to dq, dk, dv (shaped like q, k, v). With P the pre-dropout
// probabilities and P̃ the dropped-and-scaled ones:
//   dV = P̃ᵀ·dO,  dP̃ = dO·Vᵀ,  dP = dP̃ ⊙ keep/(1−p),
//   dS = P ⊙ (dP − δ) with δ_i = Σ_j P_ij dP_ij = Σ_j P̃_ij dP̃_ij = rowsum(dO ⊙ O)_i,
//   dQ = scale·dS·K,  dK = scale·dSᵀ·Q.
template <class T, class Keep>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* bias,
                        const T* out, const T* lse, const AttentionDims& d, double dropout_p, const Keep& keep) {
  const size_t n = static_cast<size_t>(d.Tq * d.Tk);
  const T survivor = static_cast<T>(dropout_p > 0 ? 1.0 / (1.0 - dropout_p) : 1.0);
#pragma omp parallel if (d.B * d.H > 1)
  {
    std::vector<T> P(n), Pd(dropout_p > 0 ? n : 0), dP(n);  // each (Tq, Tk), per thread
    std::vector<uint8_t> mask(dropout_p > 0 ? n : 0);
#pragma omp for schedule(static)
    for (int64_t bh = 0; bh < d.B * d.H; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      const T *qh = q + bh * d.Tq * d.D, *kh = k + bh * d.Tk * d.D, *vh = v + bh * d.Tk * d.Dv;
      const T *oh = out + bh * d.Tq * d.Dv, *doh = dout + bh * d.Tq * d.Dv;
      // Recompute P from the saved log-sum-exp (exp(−inf − +inf) = 0 on masked rows).
      detail::attention_scores(P.data(), qh, kh, bias, d, b, h);
      for (int64_t i = 0; i < d.Tq; ++i) {
        T* row = P.data() + i * d.Tk;
        const T l = lse[bh * d.Tq + i];
        if (l == std::numeric_limits<T>::infinity()) {  // fully masked row: P = 0
          std::fill(row, row + d.Tk, T(0));
          continue;
        }
#pragma omp simd
        for (int64_t j = 0; j < d.Tk; ++j) row[j] = exp_k(row[j] - l);
      }
      const T* Pv = P.data();  // what multiplied V in the forward
      if (dropout_p > 0) {
        keep.fill(mask.data(), bh * static_cast<int64_t>(n), static_cast<int64_t>(n));
        std::copy(P.begin(), P.end(), Pd.begin());
        detail::apply_dropout(Pd.data(), mask.data(), static_cast<int64_t>(n), dropout_p);
        Pv = Pd.data();
      }
      gemm<T>(true, false, d.Tk, d.Dv, d.Tq, T(1), Pv, d.Tk, doh, d.Dv, T(0), dv + bh * d.Tk * d.Dv, d.Dv);
      gemm<T>(false, true, d.Tq, d.Tk, d.Dv, T(1), doh, d.Dv, vh, d.Dv, T(0), dP.data(), d.Tk);
      for (int64_t i = 0; i < d.Tq; ++i) {
        double delta = 0;
#pragma omp simd reduction(+ : delta)
        for (int64_t e = 0; e < d.Dv; ++e)
          delta += static_cast<double>(doh[i * d.Dv + e]) * static_cast<double>(oh[i * d.Dv + e]);
        const T dl = static_cast<T>(delta);
        T* dPi = dP.data() + i * d.Tk;
        const T* Pi = P.data() + i * d.Tk;
        if (dropout_p > 0) {
          const uint8_t* ki = mask.data() + i * d.Tk;
#pragma omp simd
          for (int64_t j = 0; j < d.Tk; ++j) dPi[j] = Pi[j] * ((ki[j] ? dPi[j] * survivor : T(0)) - dl);  // now dS
        } else {
#pragma omp simd
          for (int64_t j = 0; j < d.Tk; ++j) dPi[j] = Pi[j] * (dPi[j] - dl);
        }
      }
      const T sc = static_cast<T>(d.scale);
      gemm<T>(false, false, d.Tq, d.D, d.Tk, sc, dP.data(), d.Tk, kh, d.D, T(0), dq + bh * d.Tq * d.D, d.D);
      gemm<T>(true, false, d.Tk, d.D, d.Tq, sc, dP.data(), d.Tk, qh, d.D, T(0), dk + bh * d.Tk * d.D, d.D);
    }
  }
}

// An integer keep-mask (nonzero = attend) as an additive bias: 0 where kept, −inf where not.
template <class T, class I>
void keep_mask_to_bias(T* bias, const I* keep, int64_t n) {
  for (int64_t e = 0; e < n; ++e) bias[e] = keep[e] != 0 ? T(0) : -std::numeric_limits<T>::infinity();
}

}  // namespace ember::cpu
