// engine/ops/fused.cpp — the fused sequence ops: lstm_cell and scaled_dot_product_attention,
// forward dispatch and backward rule side by side.
//
// Both exist as single ops (not compositions of sigmoid/tanh/matmul/softmax) because they are
// the hot loops of the LSTM language model and of BERT: one kernel each way, with the saved
// state chosen by hand, is what the CUDA backend replaces with its own fused kernels.
//   lstm_cell saves one (B, 5H) buffer: the activated gates and tanh(c').
//   attention saves q, k, v, the output and the row log-sum-exp (B, H, Tq); the backward
//   recomputes the probabilities instead of keeping B·H·Tq·Tk of them.
// Kernels: kernels/cpu/fused.h.
#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "kernels/cpu/fused.h"

namespace ember {

// ---------------- lstm_cell ----------------

std::pair<Tensor, Tensor> lstm_cell(const Tensor& gates, const Tensor& c) {
  EMBER_CHECK(gates.dim() == 2, "lstm_cell: gates must be 2-D (B, 4H), got ", gates.shape());
  EMBER_CHECK(c.dim() == 2, "lstm_cell: c must be 2-D (B, H), got ", c.shape());
  const int64_t B = c.size(0), H = c.size(1);
  EMBER_CHECK(gates.size(0) == B && gates.size(1) == 4 * H, "lstm_cell: gates must be (B, 4H) = [", B, ", ", 4 * H,
              "] for c of shape ", c.shape(), ", got ", gates.shape());
  EMBER_CHECK(gates.dtype() == c.dtype(), "lstm_cell: gates are ", gates.dtype(), " but c is ", c.dtype());
  EMBER_CHECK(gates.device() == c.device(), "lstm_cell: gates on ", gates.device(), " but c on ", c.device());
  EMBER_CHECK(gates.device().is_cpu(), "lstm_cell: no CUDA kernel yet (CPU tensors only)");
  Tensor gc = gates.detach().contiguous(), cc = c.detach().contiguous();
  Options opt(gates.dtype(), gates.device());
  Tensor h_new = empty({B, H}, opt), c_new = empty({B, H}, opt), act = empty({B, 5 * H}, opt);
  EMBER_DISPATCH_FLOAT(gates.dtype(), "lstm_cell", [&] {
    cpu::lstm_cell_forward(h_new.data<scalar_t>(), c_new.data<scalar_t>(), act.data<scalar_t>(),
                           gc.data<scalar_t>(), cc.data<scalar_t>(), B, H);
  });
  if (any_requires_grad({gates, c}))
    record("lstm_cell", {gates, c}, {h_new, c_new}, [act, c_old = cc, B, H](const TensorList& g) -> TensorList {
      // An output the graph did not use arrives zero-filled; upstream grads may be views.
      Tensor dh = g[0].contiguous(), dcn = g[1].contiguous();
      Tensor dgates = empty({B, 4 * H}, Options(act.dtype(), act.device()));
      Tensor dc = empty({B, H}, Options(act.dtype(), act.device()));
      EMBER_DISPATCH_FLOAT(act.dtype(), "lstm_cell backward", [&] {
        cpu::lstm_cell_backward(dgates.data<scalar_t>(), dc.data<scalar_t>(), dh.data<scalar_t>(),
                                dcn.data<scalar_t>(), act.data<scalar_t>(), c_old.data<scalar_t>(), B, H);
      });
      return {dgates, dc};
    });
  return {h_new, c_new};
}

// ---------------- lstm_layer ----------------

std::tuple<Tensor, Tensor, Tensor> lstm_layer(const Tensor& xproj, const Tensor& w_hh, const Tensor& b_hh,
                                              const Tensor& h0, const Tensor& c0) {
  EMBER_CHECK(xproj.dim() == 3, "lstm_layer: xproj must be 3-D (T, B, 4H), got ", xproj.shape());
  EMBER_CHECK(w_hh.dim() == 2 && w_hh.size(0) == 4 * w_hh.size(1),
              "lstm_layer: w_hh must be (4H, H), got ", w_hh.shape());
  const int64_t steps = xproj.size(0), B = xproj.size(1), H = w_hh.size(1), G = 4 * H;
  EMBER_CHECK(steps > 0, "lstm_layer: xproj has no time steps");
  EMBER_CHECK(xproj.size(2) == G, "lstm_layer: xproj must be (T, B, 4H) = [", steps, ", ", B, ", ", G,
              "] for w_hh of shape ", w_hh.shape(), ", got ", xproj.shape());
  EMBER_CHECK(!b_hh.defined() || b_hh.shape() == Shape{G}, "lstm_layer: b_hh must be (4H) = [", G, "], got ",
              b_hh.shape());
  for (const Tensor* s : {&h0, &c0})
    EMBER_CHECK(s->shape() == (Shape{B, H}), "lstm_layer: h0 and c0 must be (B, H) = [", B, ", ", H, "], got ",
                h0.shape(), " and ", c0.shape());
  for (const Tensor* t : {&w_hh, &h0, &c0})
    EMBER_CHECK(t->dtype() == xproj.dtype(), "lstm_layer: xproj is ", xproj.dtype(), " but an argument is ",
                t->dtype());
  EMBER_CHECK(!b_hh.defined() || b_hh.dtype() == xproj.dtype(), "lstm_layer: xproj is ", xproj.dtype(),
              " but b_hh is ", b_hh.dtype());
  for (const Tensor* t : {&xproj, &w_hh, &b_hh, &h0, &c0})
    EMBER_CHECK(!t->defined() || t->device().is_cpu(), "lstm_layer: no CUDA kernel yet (CPU tensors only)");
  const bool grad = any_requires_grad({xproj, w_hh, b_hh, h0, c0});
  Tensor xc = xproj.detach().contiguous(), wc = w_hh.detach().contiguous();
  Tensor bc = b_hh.defined() ? b_hh.detach().contiguous() : Tensor();
  Tensor hc = h0.detach().contiguous(), cc = c0.detach().contiguous();
  Options opt(xproj.dtype(), xproj.device());
  Tensor out = empty({steps, B, H}, opt), c_all = empty({steps, B, H}, opt), gates = empty({B, G}, opt);
  Tensor act = empty({grad ? steps : 1, B, 5 * H}, opt);
  Tensor h_last = empty({B, H}, opt), c_last = empty({B, H}, opt);
  EMBER_DISPATCH_FLOAT(xproj.dtype(), "lstm_layer", [&] {
    using T = scalar_t;
    cpu::lstm_layer_forward(out.data<T>(), c_all.data<T>(), act.data<T>(), grad ? B * 5 * H : 0, gates.data<T>(),
                            xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : nullptr, hc.data<T>(), cc.data<T>(), steps, B, H);
    std::copy_n(out.data<T>() + (steps - 1) * B * H, B * H, h_last.data<T>());
    std::copy_n(c_all.data<T>() + (steps - 1) * B * H, B * H, c_last.data<T>());
  });
  if (grad)
    record("lstm_layer", {xproj, w_hh, b_hh, h0, c0}, {out, h_last, c_last},
           [act, c_all, outs = save(out), wc, hc, cc, has_bias = b_hh.defined(), steps, B, H,
            G](const TensorList& g) -> TensorList {
             // Outputs the graph did not use arrive zero-filled; upstream grads may be views.
             Tensor dout = g[0].contiguous(), dh_last = g[1].contiguous(), dc_last = g[2].contiguous();
             Options o(act.dtype(), act.device());
             Tensor dgates = empty({steps, B, G}, o), dh0 = empty({B, H}, o), dc0 = empty({B, H}, o);
             Tensor dw = empty({G, H}, o);
             EMBER_DISPATCH_FLOAT(act.dtype(), "lstm_layer backward", [&] {
               using T = scalar_t;
               cpu::lstm_layer_backward(dgates.data<T>(), dh0.data<T>(), dc0.data<T>(), dout.data<T>(),
                                        dh_last.data<T>(), dc_last.data<T>(), act.data<T>(), c_all.data<T>(),
                                        cc.data<T>(), wc.data<T>(), steps, B, H);
               // dW_hh = Σ_t dgates_tᵀ·h_{t−1} with h_{t−1} = h0 for t = 0 and out_{t−1} after: one GEMM
               // for step 0, one over the other (T−1)·B rows (out_0 … out_{T−2} lie contiguous).
               const T* dg = dgates.data<T>();
               cpu::gemm<T>(true, false, G, H, B, T(1), dg, G, hc.data<T>(), H, T(0), dw.data<T>(), H);
               if (steps > 1)
                 cpu::gemm<T>(true, false, G, H, (steps - 1) * B, T(1), dg + B * G, G, outs.data<T>(), H, T(1),
                              dw.data<T>(), H);
             });
             Tensor db = has_bias ? sum(dgates.reshape({steps * B, G}), {0}) : Tensor();  // Σ over all T·B rows
             return {dgates, dw, db, dh0, dc0};
           });
  return {out, h_last, c_last};
}

// ---------------- scaled_dot_product_attention ----------------

namespace {

// The dropout mask of attention: element idx of the (B, H, Tq, Tk) probabilities survives when
// its uniform draw u ≥ p, with u = word idx % 4 of Philox block (seed, base + idx / 4) · 2⁻³².
// Counter-based, so the backward regenerates exactly the forward's mask from (seed, base).
struct PhiloxKeep {
  uint64_t seed = 0, base = 0;
  double p = 0;
  void fill(uint8_t* keep, int64_t idx0, int64_t n) const { philox_keep_mask(keep, seed, base, idx0, n, p); }
};

void check_attention_inputs(const Tensor& q, const Tensor& k, const Tensor& v) {
  EMBER_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "scaled_dot_product_attention: q, k, v must be 4-D (B, H, T, D), got ", q.shape(), ", ", k.shape(),
              ", ", v.shape());
  const int64_t B = q.size(0), H = q.size(1), D = q.size(3), Tk = k.size(2);
  EMBER_CHECK(k.size(0) == B && k.size(1) == H && k.size(3) == D,
              "scaled_dot_product_attention: k must be (B, H, Tk, D) = [", B, ", ", H, ", Tk, ", D, "] to match q ",
              q.shape(), ", got ", k.shape());
  EMBER_CHECK(v.size(0) == B && v.size(1) == H && v.size(2) == Tk,
              "scaled_dot_product_attention: v must be (B, H, Tk, Dv) = [", B, ", ", H, ", ", Tk, ", Dv] to match q ",
              q.shape(), " and k ", k.shape(), ", got ", v.shape());
  EMBER_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(), "scaled_dot_product_attention: q, k, v are ",
              q.dtype(), ", ", k.dtype(), ", ", v.dtype(), "; they must share one dtype");
  EMBER_CHECK(k.device() == q.device() && v.device() == q.device(),
              "scaled_dot_product_attention: q, k, v must be on one device, got ", q.device(), ", ", k.device(), ", ",
              v.device());
  EMBER_CHECK(q.device().is_cpu(), "scaled_dot_product_attention: no CUDA kernel yet (CPU tensors only)");
}

// The mask as an additive bias in q's dtype, broadcast (stride-0 view) to (B, H, Tq, Tk):
// an integer mask becomes 0 / −inf, a floating one is used as it is.
Tensor attention_bias(const Tensor& mask, const Shape& scores, DType dtype) {
  bool fits = mask.dim() <= 4;
  for (int64_t i = 1; fits && i <= mask.dim(); ++i) fits = mask.size(-i) == 1 || mask.size(-i) == scores[4 - i];
  EMBER_CHECK(fits, "scaled_dot_product_attention: mask of shape ", mask.shape(),
              " does not broadcast to the scores' (B, H, Tq, Tk) = ", scores);
  EMBER_CHECK(mask.device().is_cpu(), "scaled_dot_product_attention: mask on ", mask.device(), ", expected cpu");
  EMBER_CHECK(!is_floating(mask.dtype()) || !any_requires_grad({mask}),
              "scaled_dot_product_attention: a floating mask is a constant here and gets no gradient; "
              "pass mask.detach()");
  NoGradGuard ng;
  if (is_floating(mask.dtype())) return mask.detach().to(dtype).expand(scores);
  Tensor keep = mask.detach().contiguous();
  Tensor bias = empty(keep.shape(), Options(dtype));
  EMBER_DISPATCH_INDEX(keep.dtype(), "scaled_dot_product_attention mask", [&] {
    EMBER_DISPATCH_FLOAT(dtype, "scaled_dot_product_attention", [&] {
      cpu::keep_mask_to_bias(bias.data<scalar_t>(), keep.data<index_t>(), keep.numel());
    });
  });
  return bias.expand(scores);
}

// The state the backward needs, shared by the closure.
struct AttentionSaved {
  Tensor q, k, v, bias, out, lse;  // contiguous, detached; bias undefined without a mask
  cpu::AttentionDims dims{};
  Shape bias_strides;
  PhiloxKeep keep;
  double dropout_p = 0;
};

TensorList attention_backward(const AttentionSaved& s, const Tensor& grad_out) {
  Tensor dout = grad_out.contiguous();
  Options opt(s.q.dtype(), s.q.device());
  Tensor dq = empty(s.q.shape(), opt), dk = empty(s.k.shape(), opt), dv = empty(s.v.shape(), opt);
  cpu::AttentionDims d = s.dims;
  d.bias_strides = s.bias_strides.data();
  EMBER_DISPATCH_FLOAT(s.q.dtype(), "scaled_dot_product_attention backward", [&] {
    using T = scalar_t;
    cpu::attention_backward(dq.data<T>(), dk.data<T>(), dv.data<T>(), dout.data<T>(), s.q.data<T>(), s.k.data<T>(),
                            s.v.data<T>(), s.bias.defined() ? s.bias.data<T>() : nullptr, s.out.data<T>(),
                            s.lse.data<T>(), d, s.dropout_p, s.keep);
  });
  return {dq, dk, dv};
}

}  // namespace

// A fully masked row (every key masked for that query) yields a zero output row and sends no
// gradient; PyTorch yields NaN there. Zeros keep a padded batch finite end to end.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                    double dropout_p, bool training, double scale, Generator* gen) {
  check_attention_inputs(q, k, v);
  EMBER_CHECK(dropout_p >= 0 && dropout_p < 1, "scaled_dot_product_attention: dropout_p must be in [0, 1), got ",
              dropout_p);
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3), Tk = k.size(2), Dv = v.size(3);
  AttentionSaved s;
  s.dims = {B, H, Tq, Tk, D, Dv, scale != 0 ? scale : 1.0 / std::sqrt(static_cast<double>(D)), nullptr};
  s.dropout_p = training ? dropout_p : 0.0;
  if (s.dropout_p > 0) {
    Generator& g = gen ? *gen : default_generator();
    const uint64_t n = static_cast<uint64_t>(B * H * Tq * Tk);
    s.keep = {g.seed(), g.advance((n + 3) / 4), s.dropout_p};
  }
  if (mask.defined()) {
    s.bias = attention_bias(mask, {B, H, Tq, Tk}, q.dtype());
    s.bias_strides = s.bias.strides();
  }
  s.q = q.detach().contiguous();
  s.k = k.detach().contiguous();
  s.v = v.detach().contiguous();
  s.out = empty({B, H, Tq, Dv}, Options(q.dtype(), q.device()));
  s.lse = empty({B, H, Tq}, Options(q.dtype(), q.device()));
  cpu::AttentionDims d = s.dims;
  d.bias_strides = s.bias_strides.data();
  EMBER_DISPATCH_FLOAT(q.dtype(), "scaled_dot_product_attention", [&] {
    using T = scalar_t;
    cpu::attention_forward(s.out.data<T>(), s.lse.data<T>(), s.q.data<T>(), s.k.data<T>(), s.v.data<T>(),
                           s.bias.defined() ? s.bias.data<T>() : nullptr, d, s.dropout_p, s.keep);
  });
  Tensor out = s.out;
  s.out = save(out);
  if (any_requires_grad({q, k, v}))
    record("scaled_dot_product_attention", {q, k, v}, {out},
           [s = std::move(s)](const TensorList& g) -> TensorList { return attention_backward(s, g[0]); });
  return out;
}

}  // namespace ember
