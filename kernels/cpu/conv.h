// kernels/cpu/conv.h — 2-D convolution, max pooling, adaptive average pooling and bilinear
// resize on raw NCHW pointers, forward and backward, for float and double.
//
// Convolution is im2col + one GEMM per image: the image (Cin, H, W) is unrolled into a matrix
// (Cin·kh·kw, OH·OW) whose columns are the receptive fields, so y = W·col is a single product
// that cpu::gemm (OpenBLAS when present) does at full speed. Backward reuses the same two
// matrices: gcol = Wᵀ·g folded back with col2im gives the input gradient, g·colᵀ summed over
// images the weight gradient. With BLAS, images are batched side by side in one col; on small
// padded planes the product goes tap by tap instead (conv2d_forward_taps, below).
//
// Threading: with BLAS the GEMMs thread themselves, so images run one after another; with the
// plain GEMM fallback the images are split over OpenMP threads instead (never both: nested
// teams would oversubscribe the cores). Pooling and resize split (image, channel) planes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace ember::cpu {

// Geometry of a sliding window over C planes of (H, W): a convolution's input channels, or
// the N·C planes of a pooling.
struct Window2d {
  int64_t C = 1, H = 1, W = 1;        // input planes and their size
  int64_t kh = 1, kw = 1;             // window
  int64_t sh = 1, sw = 1;             // stride
  int64_t ph = 0, pw = 0;             // zero (conv) or −inf (max pool) padding
  int64_t dh = 1, dw = 1;             // dilation
  int64_t OH = 1, OW = 1;             // output plane
  int64_t col_rows() const { return C * kh * kw; }
  int64_t col_cols() const { return OH * OW; }
  bool is_pointwise() const {  // a 1×1, stride-1, unpadded conv: col is the image itself
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }
};

// ---------------- convolution ----------------

// im (C, H, W) → col (C·kh·kw, OH·OW). Taps that land in the padding read 0.
// ld: the row stride of col (default OH·OW; larger when several images share col side by side).
template <class T>
void im2col(T* col, const T* im, const Window2d& s, int64_t ld = -1) {
  if (ld < 0) ld = s.OH * s.OW;
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.kh; ++ki)
      for (int64_t kj = 0; kj < s.kw; ++kj) {
        T* row = col + ((c * s.kh + ki) * s.kw + kj) * ld;
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          T* out = row + oh * s.OW;
          const int64_t ih = oh * s.sh - s.ph + ki * s.dh;
          if (ih < 0 || ih >= s.H) {
            std::fill(out, out + s.OW, T(0));
            continue;
          }
          const T* in = im + (c * s.H + ih) * s.W;
          for (int64_t ow = 0; ow < s.OW; ++ow) {
            const int64_t iw = ow * s.sw - s.pw + kj * s.dw;
            out[ow] = iw >= 0 && iw < s.W ? in[iw] : T(0);
          }
        }
      }
}

// The adjoint of im2col: im (C, H, W) += every tap of col (C·kh·kw, OH·OW) at its source.
template <class T>
void col2im(T* im, const T* col, const Window2d& s, int64_t ld = -1) {
  if (ld < 0) ld = s.OH * s.OW;
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t ki = 0; ki < s.kh; ++ki)
      for (int64_t kj = 0; kj < s.kw; ++kj) {
        const T* row = col + ((c * s.kh + ki) * s.kw + kj) * ld;
        for (int64_t oh = 0; oh < s.OH; ++oh) {
          const int64_t ih = oh * s.sh - s.ph + ki * s.dh;
          if (ih < 0 || ih >= s.H) continue;
          const T* in = row + oh * s.OW;
          T* out = im + (c * s.H + ih) * s.W;
          for (int64_t ow = 0; ow < s.OW; ++ow) {
            const int64_t iw = ow * s.sw - s.pw + kj * s.dw;
            if (iw >= 0 && iw < s.W) out[iw] += in[ow];
          }
        }
      }
}

inline bool conv_threads_over_images(int64_t N) { return !gemm_uses_blas() && N > 1; }

// ---- batched path (with BLAS): one GEMM per chunk of images instead of one per image ----
// Small feature maps (ResNet18 at 32×32 ends at 1×1) make the per-image product a
// matrix–vector one that rereads every weight for every image; side by side in one
// col (K, B·P) the weights are read once per chunk. Chunks keep col under ~32 MB.
inline int64_t conv_chunk(int64_t N, int64_t K, int64_t P) {
  return std::max<int64_t>(1, std::min<int64_t>(N, (int64_t(8) << 20) / std::max<int64_t>(K * P, 1)));
}

namespace detail {

// nb images' (Cout, P) planes side by side as one (Cout, nb·P) matrix, and back (plus a bias).
template <class T>
void batch_images(T* dst, const T* src, int64_t nb, int64_t Cout, int64_t P) {
  const int64_t L = nb * P;
#pragma omp parallel for if (nb * Cout * P > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t co = 0; co < Cout; ++co)
      std::copy(src + (i * Cout + co) * P, src + (i * Cout + co + 1) * P, dst + co * L + i * P);
}

template <class T>
void unbatch_add_bias(T* dst, const T* src, const T* b, int64_t nb, int64_t Cout, int64_t P) {
  const int64_t L = nb * P;
#pragma omp parallel for if (nb * Cout * P > (1 << 16)) schedule(static)
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t co = 0; co < Cout; ++co) {
      const T* in = src + co * L + i * P;
      T* out = dst + (i * Cout + co) * P;
      const T bias = b ? b[co] : T(0);
      for (int64_t p = 0; p < P; ++p) out[p] = in[p] + bias;
    }
}

}  // namespace detail

template <class T>
void conv2d_forward_batched(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t Cout, const Window2d& s) {
  const int64_t K = s.col_rows(), P = s.col_cols(), image = s.C * s.H * s.W, B = conv_chunk(N, K, P);
  std::vector<T> col(K * B * P), yt(Cout * B * P);
  for (int64_t n0 = 0; n0 < N; n0 += B) {
    const int64_t nb = std::min(B, N - n0), L = nb * P;
#pragma omp parallel for if (nb * K * P > (1 << 16)) schedule(static)
    for (int64_t i = 0; i < nb; ++i) im2col(col.data() + i * P, x + (n0 + i) * image, s, L);
    gemm<T>(false, false, Cout, L, K, T(1), w, K, col.data(), L, T(0), yt.data(), L);  // (Cout, nb·P)
    detail::unbatch_add_bias(y + n0 * Cout * P, yt.data(), b, nb, Cout, P);
  }
}

template <class T>
void conv2d_backward_batched(T* gx, T* gw, const T* g, const T* x, const T* w, int64_t N, int64_t Cout,
                             const Window2d& s) {
  const int64_t K = s.col_rows(), P = s.col_cols(), image = s.C * s.H * s.W, B = conv_chunk(N, K, P);
  std::vector<T> col(K * B * P), gt(Cout * B * P);
  if (gw) std::fill(gw, gw + Cout * K, T(0));
  for (int64_t n0 = 0; n0 < N; n0 += B) {
    const int64_t nb = std::min(B, N - n0), L = nb * P;
    detail::batch_images(gt.data(), g + n0 * Cout * P, nb, Cout, P);  // g of the chunk as (Cout, nb·P)
    if (gw) {
#pragma omp parallel for if (nb * K * P > (1 << 16)) schedule(static)
      for (int64_t i = 0; i < nb; ++i) im2col(col.data() + i * P, x + (n0 + i) * image, s, L);
      gemm<T>(false, true, Cout, K, L, T(1), gt.data(), L, col.data(), L, T(1), gw, K);  // += g·colᵀ
    }
    if (gx) {
      gemm<T>(true, false, K, L, Cout, T(1), w, K, gt.data(), L, T(0), col.data(), L);  // gcol = Wᵀ·g
#pragma omp parallel for if (nb * K * P > (1 << 16)) schedule(static)
      for (int64_t i = 0; i < nb; ++i) {
        T* gxn = gx + (n0 + i) * image;
        std::fill(gxn, gxn + image, T(0));
        col2im(gxn, col.data() + i * P, s, L);
      }
    }
  }
}


// ---- tap-by-tap path (small padded planes): only the taps that read the image are multiplied ----
// On a tiny output plane most kernel taps of a padded conv land in the padding: a 3×3, pad-1
// conv on a 1×1 plane (ResNet18's layer4 at 32×32 input) reads one tap of nine, on a 2×2 plane
// each position reads four. im2col still multiplies all nine against zeros. Here the product
// is split by tap instead: y = Σ_τ W_τ·X_τ, where W_τ (Cout, Cin) is the weight of tap τ and X_τ
// (Cin, positions where τ reads the image) the pixels it reads there, so the multiplied work is
// exactly the taps that touch the image (kn2row, as the convolution literature calls it). The
// weights of the taps that are used are first gathered, each W_τ a contiguous (Cout, Cin) matrix.
// Taps that read the image at every position go straight into the (Cout, images·P) result; the
// others through a small buffer and a scatter-add. Used where it multiplies at most 3/4 of
// what im2col would (conv_taps_wanted); the sums are the same up to rounding order.

// For each tap τ = ki·kw + kj: the output positions p where it reads the image, and the offset
// ih·W + iw it reads there.
struct ConvTaps {
  std::vector<std::vector<int64_t>> pos, off;
  std::vector<int64_t> taps;  // the taps that read the image somewhere, ascending
  int64_t used = 0;           // Σ_τ |pos[τ]|: the (tap, position) pairs that read the image
};

inline ConvTaps conv_taps(const Window2d& s) {
  ConvTaps t;
  t.pos.resize(static_cast<size_t>(s.kh * s.kw));
  t.off.resize(t.pos.size());
  for (int64_t ki = 0; ki < s.kh; ++ki)
    for (int64_t kj = 0; kj < s.kw; ++kj) {
      const size_t tau = static_cast<size_t>(ki * s.kw + kj);
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const int64_t ih = oh * s.sh - s.ph + ki * s.dh, iw = ow * s.sw - s.pw + kj * s.dw;
          if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
          t.pos[tau].push_back(oh * s.OW + ow);
          t.off[tau].push_back(ih * s.W + iw);
        }
      t.used += static_cast<int64_t>(t.pos[tau].size());
      if (!t.pos[tau].empty()) t.taps.push_back(static_cast<int64_t>(tau));
    }
  return t;
}

namespace detail {

// Along one axis of the window: how many kernel offsets land inside the image for at least one
// output (`offsets`), and how many (offset, output) pairs do (`pairs`).
struct AxisTaps {
  int64_t offsets = 0, pairs = 0;
};
inline AxisTaps axis_taps(int64_t k, int64_t out, int64_t stride, int64_t pad, int64_t dil, int64_t size) {
  AxisTaps a;
  for (int64_t ki = 0; ki < k; ++ki) {
    int64_t n = 0;
    for (int64_t o = 0; o < out; ++o) {
      const int64_t i = o * stride - pad + ki * dil;
      n += (i >= 0 && i < size) ? 1 : 0;
    }
    a.offsets += n > 0 ? 1 : 0;
    a.pairs += n;
  }
  return a;
}

}  // namespace detail

// conv_taps(s).used and conv_taps(s).taps.size() without building the lists: tap (ki, kj) reads
// the image at (oh, ow) iff its row and its column both fall inside, so the pairs are
// (Σ_ki rows inside)·(Σ_kj columns inside) and the taps used (rows used)·(columns used).
inline int64_t conv_taps_used(const Window2d& s) {
  return detail::axis_taps(s.kh, s.OH, s.sh, s.ph, s.dh, s.H).pairs *
         detail::axis_taps(s.kw, s.OW, s.sw, s.pw, s.dw, s.W).pairs;
}
inline int64_t conv_taps_count(const Window2d& s) {
  return detail::axis_taps(s.kh, s.OH, s.sh, s.ph, s.dh, s.H).offsets *
         detail::axis_taps(s.kw, s.OW, s.sw, s.pw, s.dw, s.W).offsets;
}

// The tap path pays off when padding makes at least a quarter of im2col's products zero.
// EMBER_CONV_TAPS=0 turns it off (im2col everywhere), for A/B timing.
inline bool conv_taps_wanted(const Window2d& s) {
  if (s.kh * s.kw == 1) return false;
  if (const char* e = std::getenv("EMBER_CONV_TAPS"); e && std::string_view(e) == "0") return false;
  return 4 * conv_taps_used(s) <= 3 * s.kh * s.kw * s.OH * s.OW;
}

namespace detail {

// X_τ (Cin, nb·n): X_τ[c, i·n + j] = x_(n0+i)[c, off[j]].
template <class T>
void gather_tap(T* xt, const T* x, const std::vector<int64_t>& off, int64_t nb, const Window2d& s) {
  const int64_t n = static_cast<int64_t>(off.size()), HW = s.H * s.W, image = s.C * HW, L = nb * n;
#pragma omp parallel for if (s.C * L > (1 << 16)) schedule(static)
  for (int64_t c = 0; c < s.C; ++c)
    for (int64_t i = 0; i < nb; ++i) {
      const T* src = x + i * image + c * HW;
      T* dst = xt + c * L + i * n;
      for (int64_t j = 0; j < n; ++j) dst[j] = src[off[static_cast<size_t>(j)]];
    }
}

// (rows, nb·n) buffer ↔ the (rows, nb·P) matrix at the columns i·P + pos[j]: add into it, or read from it.
template <class T>
void scatter_add_cols(T* dst, const T* src, const std::vector<int64_t>& pos, int64_t rows, int64_t nb, int64_t P) {
  const int64_t n = static_cast<int64_t>(pos.size()), L = nb * P;
#pragma omp parallel for if (rows * nb * n > (1 << 16)) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t j = 0; j < n; ++j) dst[r * L + i * P + pos[static_cast<size_t>(j)]] += src[(r * nb + i) * n + j];
}

template <class T>
void gather_cols(T* dst, const T* src, const std::vector<int64_t>& pos, int64_t rows, int64_t nb, int64_t P) {
  const int64_t n = static_cast<int64_t>(pos.size()), L = nb * P;
#pragma omp parallel for if (rows * nb * n > (1 << 16)) schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t j = 0; j < n; ++j) dst[(r * nb + i) * n + j] = src[r * L + i * P + pos[static_cast<size_t>(j)]];
}

// W_τ for the used taps, each a contiguous (Cout, Cin): wt[u] = w[:, :, taps[u]].
template <class T>
void gather_tap_weights(T* wt, const T* w, const std::vector<int64_t>& taps, int64_t Cout, int64_t Cin, int64_t KK) {
  const int64_t U = static_cast<int64_t>(taps.size());
#pragma omp parallel for if (Cout * Cin * U > (1 << 15)) schedule(static)
  for (int64_t co = 0; co < Cout; ++co)
    for (int64_t c = 0; c < Cin; ++c) {
      const T* src = w + (co * Cin + c) * KK;
      for (int64_t u = 0; u < U; ++u) wt[(u * Cout + co) * Cin + c] = src[taps[static_cast<size_t>(u)]];
    }
}

// The adjoint: gw (Cout, Cin, KK) = 0 except gw[:, :, taps[u]] = gwt[u].
template <class T>
void scatter_tap_weights(T* gw, const T* gwt, const std::vector<int64_t>& taps, int64_t Cout, int64_t Cin, int64_t KK) {
  const int64_t U = static_cast<int64_t>(taps.size());
#pragma omp parallel for if (Cout * Cin * KK > (1 << 15)) schedule(static)
  for (int64_t co = 0; co < Cout; ++co)
    for (int64_t c = 0; c < Cin; ++c) {
      T* dst = gw + (co * Cin + c) * KK;
      std::fill(dst, dst + KK, T(0));
      for (int64_t u = 0; u < U; ++u) dst[taps[static_cast<size_t>(u)]] = gwt[(u * Cout + co) * Cin + c];
    }
}

}  // namespace detail

// x (N, Cin, H, W), w (Cout, Cin·kh·kw), b (Cout) or null → y (N, Cout, OH, OW), tap by tap.
// wt_out, if not null, receives the gathered W_τ (conv_tap_weights_size(s, Cout) values) for the
// backward to reuse: on a 1×1 plane gathering one tap of nine reads all of w, as much memory
// traffic as the product itself.
template <class T>
void conv2d_forward_taps(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t Cout, const Window2d& s,
                         T* wt_out = nullptr) {
  const ConvTaps taps = conv_taps(s);
  const int64_t Cin = s.C, KK = s.kh * s.kw, P = s.col_cols(), image = Cin * s.H * s.W;
  const int64_t B = conv_chunk(N, Cin * KK, P);
  const int64_t U = static_cast<int64_t>(taps.taps.size());
  std::vector<T> wt_own(wt_out ? 0 : static_cast<size_t>(U * Cout * Cin));
  T* wt = wt_out ? wt_out : wt_own.data();  // W_τ of the used taps, (U, Cout, Cin)
  detail::gather_tap_weights(wt, w, taps.taps, Cout, Cin, KK);
  std::vector<T> xt(static_cast<size_t>(Cin * B * P)), yt(static_cast<size_t>(Cout * B * P)), part;
  for (int64_t n0 = 0; n0 < N; n0 += B) {
    const int64_t nb = std::min(B, N - n0), L = nb * P;
    std::fill(yt.begin(), yt.begin() + Cout * L, T(0));
    for (int64_t u = 0; u < U; ++u) {
      const size_t k = static_cast<size_t>(taps.taps[static_cast<size_t>(u)]);
      const auto& pos = taps.pos[k];
      const int64_t n = static_cast<int64_t>(pos.size());
      const T* wk = wt + u * Cout * Cin;
      detail::gather_tap(xt.data(), x + n0 * image, taps.off[k], nb, s);
      if (n == P) {  // reads the image everywhere: its columns are yt's own
        gemm<T>(false, false, Cout, L, Cin, T(1), wk, Cin, xt.data(), L, T(1), yt.data(), L);
      } else {
        part.resize(static_cast<size_t>(Cout * nb * n));
        gemm<T>(false, false, Cout, nb * n, Cin, T(1), wk, Cin, xt.data(), nb * n, T(0), part.data(), nb * n);
        detail::scatter_add_cols(yt.data(), part.data(), pos, Cout, nb, P);
      }
    }
    detail::unbatch_add_bias(y + n0 * Cout * P, yt.data(), b, nb, Cout, P);
  }
}

// g (N, Cout, OH, OW) → gx (N, Cin, H, W), gw (Cout, Cin·kh·kw), overwritten, either may be
// null; tap by tap: gW_τ = Σ G_τ·X_τᵀ and gX_τ = W_τᵀ·G_τ, scattered back to the pixels τ read.
// wt_saved, if not null, holds the forward's gathered W_τ (see conv2d_forward_taps).
template <class T>
void conv2d_backward_taps(T* gx, T* gw, const T* g, const T* x, const T* w, int64_t N, int64_t Cout,
                          const Window2d& s, const T* wt_saved = nullptr) {
  const ConvTaps taps = conv_taps(s);
  const int64_t Cin = s.C, KK = s.kh * s.kw, P = s.col_cols(), HW = s.H * s.W, image = Cin * HW;
  const int64_t B = conv_chunk(N, Cin * KK, P);
  const int64_t U = static_cast<int64_t>(taps.taps.size());
  std::vector<T> wt_own(gx && !wt_saved ? static_cast<size_t>(U * Cout * Cin) : 0),
      gwt(gw ? static_cast<size_t>(U * Cout * Cin) : 0);
  if (gx && !wt_saved) detail::gather_tap_weights(wt_own.data(), w, taps.taps, Cout, Cin, KK);
  const T* wt = wt_saved ? wt_saved : wt_own.data();
  if (gx) std::fill(gx, gx + N * image, T(0));
  std::vector<T> gt(static_cast<size_t>(Cout * B * P)), xt(static_cast<size_t>(Cin * B * P)), gpart;
  for (int64_t n0 = 0; n0 < N; n0 += B) {
    const int64_t nb = std::min(B, N - n0);
    detail::batch_images(gt.data(), g + n0 * Cout * P, nb, Cout, P);  // g of the chunk as (Cout, nb·P)
    for (int64_t u = 0; u < U; ++u) {
      const size_t k = static_cast<size_t>(taps.taps[static_cast<size_t>(u)]);
      const auto& pos = taps.pos[k];
      const auto& off = taps.off[k];
      const int64_t n = static_cast<int64_t>(pos.size()), Ln = nb * n;
      const T* gk = gt.data();  // G_τ (Cout, nb·n)
      if (n != P) {
        gpart.resize(static_cast<size_t>(Cout * Ln));
        detail::gather_cols(gpart.data(), gt.data(), pos, Cout, nb, P);
        gk = gpart.data();
      }
      if (gw) {
        detail::gather_tap(xt.data(), x + n0 * image, off, nb, s);
        gemm<T>(false, true, Cout, Cin, Ln, T(1), gk, Ln, xt.data(), Ln, T(1), gwt.data() + u * Cout * Cin, Cin);
      }
      if (gx) {
        gemm<T>(true, false, Cin, Ln, Cout, T(1), wt + u * Cout * Cin, Cin, gk, Ln, T(0), xt.data(), Ln);
        // Within one tap the positions read distinct pixels, so (c, image) rows scatter independently.
#pragma omp parallel for if (Cin * Ln > (1 << 16)) schedule(static)
        for (int64_t c = 0; c < Cin; ++c)
          for (int64_t i = 0; i < nb; ++i) {
            T* dst = gx + (n0 + i) * image + c * HW;
            const T* src = xt.data() + c * Ln + i * n;
            for (int64_t j = 0; j < n; ++j) dst[off[static_cast<size_t>(j)]] += src[j];
          }
      }
    }
  }
  if (gw) detail::scatter_tap_weights(gw, gwt.data(), taps.taps, Cout, Cin, KK);
}

// Whether conv2d_forward/backward below go tap by tap for this batch and window.
inline bool conv_goes_by_taps(int64_t N, const Window2d& s) {
  return gemm_uses_blas() && N > 1 && conv_taps_wanted(s);
}

// The size of the tap-by-tap path's gathered weights (used taps × Cout × Cin), 0 when
// conv2d_forward would not take that path.
inline int64_t conv_tap_weights_size(int64_t N, int64_t Cout, const Window2d& s) {
  return conv_goes_by_taps(N, s) ? conv_taps_count(s) * Cout * s.C : 0;
}

// x (N, Cin, H, W), w (Cout, Cin·kh·kw), b (Cout) or null → y (N, Cout, OH, OW). s.C = Cin.
// tap_weights: null, or conv_tap_weights_size(N, Cout, s) values that the tap path fills for the
// backward (conv2d_backward's tap_weights).
template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t Cout, const Window2d& s,
                    T* tap_weights = nullptr) {
  if (conv_goes_by_taps(N, s)) return conv2d_forward_taps(y, x, w, b, N, Cout, s, tap_weights);
  if (gemm_uses_blas() && N > 1) return conv2d_forward_batched(y, x, w, b, N, Cout, s);
  const int64_t K = s.col_rows(), P = s.col_cols(), image = s.C * s.H * s.W;
#pragma omp parallel if (conv_threads_over_images(N))
  {
    std::vector<T> col(s.is_pointwise() ? 0 : K * P);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const T* cn = x + n * image;  // (K, P)
      if (!s.is_pointwise()) {
        im2col(col.data(), cn, s);
        cn = col.data();
      }
      T* yn = y + n * Cout * P;  // (Cout, P), starts as the bias
      for (int64_t co = 0; co < Cout; ++co) std::fill(yn + co * P, yn + (co + 1) * P, b ? b[co] : T(0));
      gemm<T>(false, false, Cout, P, K, T(1), w, K, cn, P, T(1), yn, P);
    }
  }
}

// g (N, Cout, OH, OW) → gx (N, Cin, H, W), gw (Cout, Cin·kh·kw), gb (Cout), all overwritten;
// any may be null (not wanted). tap_weights: null, or what conv2d_forward filled for the same x, w.
template <class T>
void conv2d_backward(T* gx, T* gw, T* gb, const T* g, const T* x, const T* w, int64_t N, int64_t Cout,
                     const Window2d& s, const T* tap_weights = nullptr) {
  const int64_t K = s.col_rows(), P = s.col_cols(), image = s.C * s.H * s.W;
  if (gb) {
#pragma omp parallel for if (N * Cout * P > (1 << 15)) schedule(static)
    for (int64_t co = 0; co < Cout; ++co) {
      double acc = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t p = 0; p < P; ++p) acc += static_cast<double>(g[(n * Cout + co) * P + p]);
      gb[co] = static_cast<T>(acc);
    }
  }
  if (!gx && !gw) return;
  if (conv_goes_by_taps(N, s)) return conv2d_backward_taps(gx, gw, g, x, w, N, Cout, s, tap_weights);
  if (gemm_uses_blas() && N > 1) return conv2d_backward_batched(gx, gw, g, x, w, N, Cout, s);
  if (gw) std::fill(gw, gw + Cout * K, T(0));
  const bool over_images = conv_threads_over_images(N);
#pragma omp parallel if (over_images)
  {
    std::vector<T> col(K * P);                                   // col of x_n, then gcol
    std::vector<T> gw_private(gw && over_images ? Cout * K : 0);  // this thread's share of gw
    T* gw_acc = over_images ? gw_private.data() : gw;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const T* gn = g + n * Cout * P;  // (Cout, P)
      if (gw) {
        const T* cn = x + n * image;
        if (!s.is_pointwise()) {
          im2col(col.data(), cn, s);
          cn = col.data();
        }
        gemm<T>(false, true, Cout, K, P, T(1), gn, P, cn, P, T(1), gw_acc, K);  // += g_n·colᵀ
      }
      if (gx) {
        T* gxn = gx + n * image;
        if (s.is_pointwise()) {
          gemm<T>(true, false, K, P, Cout, T(1), w, K, gn, P, T(0), gxn, P);
        } else {
          gemm<T>(true, false, K, P, Cout, T(1), w, K, gn, P, T(0), col.data(), P);  // Wᵀ·g_n
          std::fill(gxn, gxn + image, T(0));
          col2im(gxn, col.data(), s);
        }
      }
    }
    if (gw && over_images) {
#pragma omp critical
      for (int64_t i = 0; i < Cout * K; ++i) gw[i] += gw_private[i];
    }
  }
}

// ---------------- max pooling ----------------

namespace detail {

// c ? a : b through a bit mask, never a branch (see max_pool2d_forward).
template <class V>
inline V select_bits(bool c, V a, V b) {
  using U = std::conditional_t<sizeof(V) == 8, uint64_t, uint32_t>;
  static_assert(sizeof(V) == sizeof(U), "select_bits: 4- or 8-byte values");
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(V));
  std::memcpy(&ub, &b, sizeof(V));
  const U mask = U(0) - static_cast<U>(c);
  const U r = (ua & mask) | (ub & ~mask);
  V out;
  std::memcpy(&out, &r, sizeof(V));
  return out;
}

// max_pool2d_forward's body, the argmax tracked as I (int32_t or int64_t) in a row buffer.
template <class I, class T>
void max_pool2d_rows(T* y, int64_t* idx, const T* x, const Window2d& s) {
  const int64_t HW = s.H * s.W, P = s.OH * s.OW;
#pragma omp parallel if (s.C * P * s.kh * s.kw > (1 << 15))
  {
    std::vector<I> row(idx ? static_cast<size_t>(s.OW) : 0);
    I* ir = row.data();
#pragma omp for schedule(static)
    for (int64_t c = 0; c < s.C; ++c) {
      const T* in = x + c * HW;
      for (int64_t oh = 0; oh < s.OH; ++oh) {
        T* yr = y + c * P + oh * s.OW;
        int64_t h0 = oh * s.sh - s.ph;
        const int64_t h1 = std::min(h0 + (s.kh - 1) * s.dh + 1, s.H);
        while (h0 < 0) h0 += s.dh;
        std::fill(yr, yr + s.OW, -std::numeric_limits<T>::infinity());
        if (idx)
          for (int64_t ow = 0; ow < s.OW; ++ow) {  // all −inf: the window's first pixel
            int64_t w0 = ow * s.sw - s.pw;
            while (w0 < 0) w0 += s.dw;
            ir[ow] = static_cast<I>(h0 * s.W + w0);
          }
        for (int64_t ih = h0; ih < h1; ih += s.dh)
          for (int64_t kj = 0; kj < s.kw; ++kj) {
            const int64_t shift = kj * s.dw - s.pw;  // iw = ow·sw + shift, inside for ow in [lo, hi)
            const int64_t lo = shift >= 0 ? 0 : (-shift + s.sw - 1) / s.sw;
            const int64_t hi = s.W - 1 - shift < 0 ? 0 : std::min(s.OW, (s.W - 1 - shift) / s.sw + 1);
            const int64_t base = ih * s.W + shift;
            if (idx) {
              for (int64_t ow = lo; ow < hi; ++ow) {
                const T v = in[base + ow * s.sw];
                const bool take = v > yr[ow] || v != v;  // v != v: NaN
                yr[ow] = select_bits(take, v, yr[ow]);
                ir[ow] = select_bits(take, static_cast<I>(base + ow * s.sw), ir[ow]);
              }
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) {
                const T v = in[base + ow * s.sw];
                yr[ow] = select_bits(v > yr[ow] || v != v, v, yr[ow]);
              }
            }
          }
        if (idx) std::copy(ir, ir + s.OW, idx + c * P + oh * s.OW);
      }
    }
  }
}

}  // namespace detail

// x (planes, H, W) → y (planes, OH, OW) and idx (planes, OH, OW), the argmax's offset ih·W + iw
// in its plane; idx may be null (inference: no backward). Padding counts as −inf; ties keep the
// first maximum; NaN wins, the last NaN in the window's row-major order (as PyTorch). One output
// row at a time, tap by tap over the whole row, so the row's outputs are independent chains and
// each still sees its window's taps in row-major order, as the tie and NaN rules need. The selects
// go through bit masks (as ternaries GCC made them data-dependent branches), and the argmax is kept
// in a 32-bit row buffer: with the argmax (training) this runs 2.5–3.4× faster than one that
// stored 64-bit offsets behind branches (ResNet18's pool at 64 and 32 px, this Xeon).
template <class T>
void max_pool2d_forward(T* y, int64_t* idx, const T* x, const Window2d& s) {
  const int64_t HW = s.H * s.W;
  // The argmax is tracked in 32 bits per output row (a plane of under 2^31 pixels; 64 bits
  // otherwise) and widened once per row: the same lane width as a float, which the selects want.
  if (idx && HW < (int64_t{1} << 31)) return detail::max_pool2d_rows<int32_t>(y, idx, x, s);
  if (idx) return detail::max_pool2d_rows<int64_t>(y, idx, x, s);
  detail::max_pool2d_rows<int32_t>(y, static_cast<int64_t*>(nullptr), x, s);
}

// gx (planes, H·W) = 0 except the gradient g (planes, P) routed to each window's argmax.
template <class T>
void max_pool2d_backward(T* gx, const T* g, const int64_t* idx, int64_t planes, int64_t HW, int64_t P) {
#pragma omp parallel for if (planes * HW > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < planes; ++c) {
    T* out = gx + c * HW;
    std::fill(out, out + HW, T(0));
    for (int64_t p = 0; p < P; ++p) out[idx[c * P + p]] += g[c * P + p];
  }
}

// ---------------- adaptive average pooling ----------------

// PyTorch's bins: output i of `out` covers [⌊i·in/out⌋, ⌈(i+1)·in/out⌉) — bins may overlap
// when in is not a multiple of out.
inline int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// x (planes, H, W) → y (planes, OH, OW), the mean of each bin.
template <class T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW) {
#pragma omp parallel for if (planes * H * W > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < planes; ++c) {
    const T* in = x + c * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        T acc = T(0);
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) acc += in[ih * W + iw];
        y[(c * OH + oh) * OW + ow] = acc / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  }
}

// gx (planes, H, W): each output's gradient spread evenly over its bin (overwritten).
template <class T>
void adaptive_avg_pool2d_backward(T* gx, const T* g, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW) {
#pragma omp parallel for if (planes * H * W > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < planes; ++c) {
    T* out = gx + c * H * W;
    std::fill(out, out + H * W, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        const T share = g[(c * OH + oh) * OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) out[ih * W + iw] += share;
      }
    }
  }
}

// ---------------- bilinear resize (align_corners=False) ----------------

// Output i along one axis reads inputs i0 and i1 with weights l0 + l1 = 1. As PyTorch's
// upsample_bilinear2d: src = (i + 0.5)·in/out − 0.5, clamped below at 0; i0 = ⌊src⌋,
// i1 = i0 + 1 unless i0 is the last input; l1 = src − i0 clamped to [0, 1].
template <class T>
struct LinearTap {
  int64_t i0, i1;
  T l0, l1;
};

template <class T>
std::vector<LinearTap<T>> linear_taps(int64_t in, int64_t out) {
  std::vector<LinearTap<T>> taps(static_cast<size_t>(out));
  const T scale = static_cast<T>(in) / static_cast<T>(out);
  for (int64_t i = 0; i < out; ++i) {
    LinearTap<T>& t = taps[static_cast<size_t>(i)];
    if (in == out) {
      t = {i, i, T(1), T(0)};
      continue;
    }
    const T src = std::max(scale * (static_cast<T>(i) + T(0.5)) - T(0.5), T(0));
    t.i0 = std::min(static_cast<int64_t>(src), in - 1);
    t.i1 = t.i0 < in - 1 ? t.i0 + 1 : t.i0;
    t.l1 = std::min(std::max(src - static_cast<T>(t.i0), T(0)), T(1));
    t.l0 = T(1) - t.l1;
  }
  return taps;
}

// x (planes, H, W) → y (planes, OH, OW).
template <class T>
void bilinear_forward(T* y, const T* x, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const auto th = linear_taps<T>(H, OH), tw = linear_taps<T>(W, OW);
#pragma omp parallel for if (planes * OH * OW > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < planes; ++c) {
    const T* in = x + c * H * W;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const LinearTap<T>& a = th[static_cast<size_t>(oh)];
      const T* r0 = in + a.i0 * W;
      const T* r1 = in + a.i1 * W;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const LinearTap<T>& b = tw[static_cast<size_t>(ow)];
        y[(c * OH + oh) * OW + ow] = a.l0 * (b.l0 * r0[b.i0] + b.l1 * r0[b.i1]) + a.l1 * (b.l0 * r1[b.i0] + b.l1 * r1[b.i1]);
      }
    }
  }
}

// gx (planes, H, W): g (planes, OH, OW) scattered with the forward's weights (overwritten).
template <class T>
void bilinear_backward(T* gx, const T* g, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const auto th = linear_taps<T>(H, OH), tw = linear_taps<T>(W, OW);
#pragma omp parallel for if (planes * OH * OW > (1 << 15)) schedule(static)
  for (int64_t c = 0; c < planes; ++c) {
    T* out = gx + c * H * W;
    std::fill(out, out + H * W, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      const LinearTap<T>& a = th[static_cast<size_t>(oh)];
      for (int64_t ow = 0; ow < OW; ++ow) {
        const LinearTap<T>& b = tw[static_cast<size_t>(ow)];
        const T gv = g[(c * OH + oh) * OW + ow];
        out[a.i0 * W + b.i0] += a.l0 * b.l0 * gv;
        out[a.i0 * W + b.i1] += a.l0 * b.l1 * gv;
        out[a.i1 * W + b.i0] += a.l1 * b.l0 * gv;
        out[a.i1 * W + b.i1] += a.l1 * b.l1 * gv;
      }
    }
  }
}

}  // namespace ember::cpu
