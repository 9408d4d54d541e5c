// engine/ops/conv.cpp — conv2d, max_pool2d, adaptive_avg_pool2d, interpolate_bilinear:
// the spatial ops of a CNN on NCHW tensors, forward dispatch and backward rule side by side.
//
// Each op checks its inputs up front (rank, channels, window sizes, output size ≥ 1) with the
// shapes in the message, works on contiguous copies, and hands raw pointers to the kernels in
// kernels/cpu/conv.h. Backward rules call the matching backward kernel directly: they run
// under the autograd pass's NoGradGuard and record nothing.
//
// conv2d in float32 goes through oneDNN (kernels/cpu/conv_dnnl.h) when ember was built with it,
// EMBER_DNNL is not 0 and the output plane is large enough for oneDNN to win
// (cpu::dnnl_conv_wanted); float64 always, and float32 otherwise, use im2col + GEMM. The
// forward picks the path; its backward follows the same choice.
#include "engine/ops.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_dnnl.h"

namespace ember {

namespace {

// ⌊num / den⌋ for den > 0, also for a negative num (C++ division truncates toward zero).
int64_t floor_div(int64_t num, int64_t den) { return num >= 0 ? num / den : -((-num + den - 1) / den); }

// floor((in + 2p − d(k−1) − 1)/s) + 1, as torch.nn.Conv2d / MaxPool2d (ceil_mode=False).
int64_t window_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return floor_div(in + 2 * p - d * (k - 1) - 1, s) + 1;
}

void check_nchw(const Tensor& x, const char* op) {
  EMBER_CHECK(x.dim() == 4, op, ": input must be 4-D (N, C, H, W), got ", x.shape());
  EMBER_CHECK(x.device().is_cpu(), op, ": no CUDA kernel yet (CPU tensors only)");
}

// The sliding-window geometry of a conv or pool over x's planes; checks the window arguments
// and that the output is at least 1×1.
cpu::Window2d make_window(const Tensor& x, int64_t planes, Pair2 k, Pair2 s, Pair2 p, Pair2 d, const char* op) {
  EMBER_CHECK(k.h > 0 && k.w > 0, op, ": kernel size must be positive, got (", k.h, ", ", k.w, ")");
  EMBER_CHECK(s.h > 0 && s.w > 0, op, ": stride must be positive, got (", s.h, ", ", s.w, ")");
  EMBER_CHECK(p.h >= 0 && p.w >= 0, op, ": padding must be non-negative, got (", p.h, ", ", p.w, ")");
  EMBER_CHECK(d.h > 0 && d.w > 0, op, ": dilation must be positive, got (", d.h, ", ", d.w, ")");
  cpu::Window2d w;
  w.C = planes;
  w.H = x.size(2);
  w.W = x.size(3);
  w.kh = k.h, w.kw = k.w, w.sh = s.h, w.sw = s.w, w.ph = p.h, w.pw = p.w, w.dh = d.h, w.dw = d.w;
  w.OH = window_out_size(w.H, k.h, s.h, p.h, d.h);
  w.OW = window_out_size(w.W, k.w, s.w, p.w, d.w);
  EMBER_CHECK(w.OH >= 1 && w.OW >= 1, op, ": output size (", w.OH, ", ", w.OW, ") is too small for input ",
              x.shape(), " with kernel (", k.h, ", ", k.w, "), stride (", s.h, ", ", s.w, "), padding (", p.h,
              ", ", p.w, "), dilation (", d.h, ", ", d.w, ")");
  return w;
}

// A contiguous, graph-free alias (or copy) of t, for kernels and for saving in closures.
Tensor plain(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// The kernels take a null pointer for an absent (undefined) tensor.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void check_conv_args(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_nchw(x, "conv2d");
  EMBER_CHECK(weight.dim() == 4, "conv2d: weight must be 4-D (Cout, Cin, kh, kw), got ", weight.shape());
  EMBER_CHECK(x.size(1) == weight.size(1), "conv2d: input has ", x.size(1), " channels but weight ", weight.shape(),
              " expects ", weight.size(1), " (input ", x.shape(), ")");
  EMBER_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "conv2d: bias must be (",
              weight.size(0), "), got ", bias.shape());
  EMBER_CHECK(x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()),
              "conv2d: dtype mismatch: input ", x.dtype(), ", weight ", weight.dtype(),
              bias.defined() ? ", bias " : "", bias.defined() ? dtype_name(bias.dtype()) : "");
  EMBER_CHECK(weight.device().is_cpu() && (!bias.defined() || bias.device().is_cpu()),
              "conv2d: no CUDA kernel yet (CPU tensors only)");
}

}  // namespace

// ---------------- convolution ----------------

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Pair2 stride, Pair2 padding,
              Pair2 dilation) {
  check_conv_args(x, weight, bias);
  const int64_t N = x.size(0), Cout = weight.size(0);
  cpu::Window2d s =
      make_window(x, x.size(1), {weight.size(2), weight.size(3)}, stride, padding, dilation, "conv2d");
  Tensor xc = plain(x), wc = plain(weight), bc = plain(bias);
  Tensor out = empty({N, Cout, s.OH, s.OW}, Options(x.dtype(), x.device()));
  const bool dnnl = x.dtype() == DType::F32 && cpu::dnnl_conv_wanted(s);
  const bool gx = x.requires_grad() && grad_mode_enabled(), gw = weight.requires_grad() && grad_mode_enabled();
  // What the forward reorders or gathers anyway, kept for the backward: oneDNN's blocked x for the
  // weight gradient (instead of x itself), the tap-by-tap path's gathered weights for gx.
  Tensor x_blocked, tap_w;
  if (dnnl && gw) {
    const size_t bytes = cpu::dnnl_conv2d_blocked_input_bytes(N, Cout, s, bias.defined());
    if (bytes > 0) x_blocked = empty({static_cast<int64_t>((bytes + 3) / 4)}, Options(DType::F32));
  }
  if (!dnnl && gx) {
    if (const int64_t n = cpu::conv_tap_weights_size(N, Cout, s); n > 0) tap_w = empty({n}, Options(x.dtype()));
  }
  if (dnnl) {
    cpu::dnnl_conv2d_forward(out.data<float>(), xc.data<float>(), wc.data<float>(), data_or_null<float>(bc), N,
                             Cout, s, data_or_null<float>(x_blocked));
  } else {
    EMBER_DISPATCH_FLOAT(x.dtype(), "conv2d", [&] {
      cpu::conv2d_forward(out.data<scalar_t>(), xc.data<scalar_t>(), wc.data<scalar_t>(),
                          data_or_null<scalar_t>(bc), N, Cout, s, data_or_null<scalar_t>(tap_w));
    });
  }
  if (any_requires_grad({x, weight, bias})) {
    const bool gb = bias.defined() && bias.requires_grad();
    // The input is saved only when the weight gradient needs it (and not as oneDNN's blocked copy),
    // the weight only for gx.
    record("conv2d", {x, weight, bias}, {out},
           [xs = gw && !x_blocked.defined() ? xc : Tensor(), ws = gx ? wc : Tensor(), x_blocked, tap_w,
            xshape = x.shape(), wshape = weight.shape(), s, N, Cout, gx, gw, gb, dnnl,
            fb = bias.defined()](const TensorList& g) -> TensorList {
             Tensor gc = plain(g[0]);
             Tensor dx = gx ? empty(xshape, Options(gc.dtype())) : Tensor();
             Tensor dw = gw ? empty(wshape, Options(gc.dtype())) : Tensor();
             Tensor db = gb ? empty({Cout}, Options(gc.dtype())) : Tensor();
             if (dnnl) {  // float32 throughout (conv2d checks that x, weight and bias share a dtype)
               cpu::dnnl_conv2d_backward(data_or_null<float>(dx), data_or_null<float>(dw), data_or_null<float>(db),
                                         gc.data<float>(), data_or_null<float>(xs), data_or_null<float>(ws), N,
                                         Cout, s, fb, data_or_null<float>(x_blocked));
               return {dx, dw, db};
             }
             EMBER_DISPATCH_FLOAT(gc.dtype(), "conv2d backward", [&] {
               using T = scalar_t;
               // The forward's gathered weights only if the backward runs in their dtype.
               const T* tw = tap_w.defined() && tap_w.dtype() == gc.dtype() ? tap_w.data<T>() : nullptr;
               cpu::conv2d_backward(data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db), gc.data<T>(),
                                    data_or_null<T>(xs), data_or_null<T>(ws), N, Cout, s, tw);
             });
             return {dx, dw, db};
           });
  }
  return out;
}

// ---------------- pooling ----------------

Tensor max_pool2d(const Tensor& x, Pair2 kernel, Pair2 stride, Pair2 padding) {
  check_nchw(x, "max_pool2d");
  EMBER_CHECK(padding.h * 2 <= kernel.h && padding.w * 2 <= kernel.w, "max_pool2d: padding (", padding.h, ", ",
              padding.w, ") must be at most half the kernel size (", kernel.h, ", ", kernel.w, ")");
  const int64_t N = x.size(0), C = x.size(1);
  cpu::Window2d s = make_window(x, N * C, kernel, stride, padding, 1, "max_pool2d");
  Tensor xc = plain(x);
  Tensor out = empty({N, C, s.OH, s.OW}, Options(x.dtype(), x.device()));
  const bool grad = any_requires_grad({x});  // the argmax is kept only for a backward
  Tensor idx = grad ? empty({N, C, s.OH, s.OW}, Options(DType::I64, x.device())) : Tensor();
  EMBER_DISPATCH_FLOAT(x.dtype(), "max_pool2d", [&] {
    cpu::max_pool2d_forward(out.data<scalar_t>(), grad ? idx.data<int64_t>() : nullptr, xc.data<scalar_t>(), s);
  });
  if (grad)
    record("max_pool2d", {x}, {out}, [idx, xshape = x.shape(), s](const TensorList& g) -> TensorList {
      Tensor gc = plain(g[0]);
      Tensor dx = empty(xshape, Options(gc.dtype()));
      EMBER_DISPATCH_FLOAT(gc.dtype(), "max_pool2d backward", [&] {
        cpu::max_pool2d_backward(dx.data<scalar_t>(), gc.data<scalar_t>(), idx.data<int64_t>(), s.C, s.H * s.W,
                                 s.OH * s.OW);
      });
      return {dx};
    });
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, Pair2 output_size) {
  check_nchw(x, "adaptive_avg_pool2d");
  EMBER_CHECK(output_size.h > 0 && output_size.w > 0, "adaptive_avg_pool2d: output size must be positive, got (",
              output_size.h, ", ", output_size.w, ")");
  EMBER_CHECK(x.size(2) > 0 && x.size(3) > 0, "adaptive_avg_pool2d: empty spatial dims in input ", x.shape());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t OH = output_size.h, OW = output_size.w;
  Tensor xc = plain(x);
  Tensor out = empty({N, C, OH, OW}, Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "adaptive_avg_pool2d", [&] {
    cpu::adaptive_avg_pool2d_forward(out.data<scalar_t>(), xc.data<scalar_t>(), N * C, H, W, OH, OW);
  });
  if (any_requires_grad({x}))
    record("adaptive_avg_pool2d", {x}, {out}, [xshape = x.shape(), OH, OW](const TensorList& g) -> TensorList {
      Tensor gc = plain(g[0]);
      Tensor dx = empty(xshape, Options(gc.dtype()));
      EMBER_DISPATCH_FLOAT(gc.dtype(), "adaptive_avg_pool2d backward", [&] {
        cpu::adaptive_avg_pool2d_backward(dx.data<scalar_t>(), gc.data<scalar_t>(), xshape[0] * xshape[1],
                                          xshape[2], xshape[3], OH, OW);
      });
      return {dx};
    });
  return out;
}

// ---------------- resize ----------------

Tensor interpolate_bilinear(const Tensor& x, Pair2 size) {
  check_nchw(x, "interpolate_bilinear");
  EMBER_CHECK(size.h > 0 && size.w > 0, "interpolate_bilinear: output size must be positive, got (", size.h, ", ",
              size.w, ")");
  EMBER_CHECK(x.size(2) > 0 && x.size(3) > 0, "interpolate_bilinear: empty spatial dims in input ", x.shape());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor xc = plain(x);
  Tensor out = empty({N, C, size.h, size.w}, Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "interpolate_bilinear", [&] {
    cpu::bilinear_forward(out.data<scalar_t>(), xc.data<scalar_t>(), N * C, H, W, size.h, size.w);
  });
  if (any_requires_grad({x}))
    record("interpolate_bilinear", {x}, {out}, [xshape = x.shape(), size](const TensorList& g) -> TensorList {
      Tensor gc = plain(g[0]);
      Tensor dx = empty(xshape, Options(gc.dtype()));
      EMBER_DISPATCH_FLOAT(gc.dtype(), "interpolate_bilinear backward", [&] {
        cpu::bilinear_backward(dx.data<scalar_t>(), gc.data<scalar_t>(), xshape[0] * xshape[1], xshape[2],
                               xshape[3], size.h, size.w);
      });
      return {dx};
    });
  return out;
}

}  // namespace ember
