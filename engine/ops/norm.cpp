// engine/ops/norm.cpp — layer_norm and batch_norm2d: forward dispatch and fused backward.
//
// Both ops save only the per-row (layer norm) or per-channel (batch norm) mean and
// rstd = 1/√(var + eps) next to their input; the backward kernels recompute x̂ from those in
// one pass instead of differentiating through a chain of mean/var/sub/mul nodes.
// Formulas and shapes: kernels/cpu/norm.h.
#include <cmath>

#include "engine/ops.h"
#include "kernels/cpu/norm.h"

namespace ember {

namespace {

// A contiguous, graph-free alias (or copy) of t, for kernels and for saving in closures.
Tensor plain(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// The kernels take a null pointer for an absent (undefined) tensor.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void check_param(const Tensor& p, const Tensor& x, const Shape& expected, const char* op, const char* what) {
  if (!p.defined()) return;
  EMBER_CHECK(p.shape() == expected, op, ": ", what, " must have shape ", expected, ", got ", p.shape(),
              " (input ", x.shape(), ")");
  EMBER_CHECK(p.dtype() == x.dtype(), op, ": ", what, " is ", p.dtype(), " but the input is ", x.dtype());
  EMBER_CHECK(p.device().is_cpu(), op, ": no CUDA kernel yet (CPU tensors only) (", what, " on ", p.device(), ")");
}

}  // namespace

// ---------------- layer norm ----------------

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  EMBER_CHECK(k >= 1, "layer_norm: normalized_shape must name at least one dim");
  EMBER_CHECK(x.dim() >= k && Shape(x.shape().end() - k, x.shape().end()) == normalized_shape,
              "layer_norm: input of shape ", x.shape(), " does not end in normalized_shape ", normalized_shape);
  EMBER_CHECK(x.device().is_cpu(), "layer_norm: no CUDA kernel yet (CPU tensors only)");
  check_param(weight, x, normalized_shape, "layer_norm", "weight");
  check_param(bias, x, normalized_shape, "layer_norm", "bias");
  const int64_t n = shape_numel(normalized_shape), rows = n > 0 ? x.numel() / n : 0;
  EMBER_CHECK(n > 0, "layer_norm: normalized_shape ", normalized_shape, " has no elements");
  Tensor xc = plain(x), wc = plain(weight), bc = plain(bias);
  Tensor out = empty(x.shape(), Options(x.dtype(), x.device()));
  Tensor mean = empty({rows}, Options(x.dtype(), x.device()));
  Tensor rstd = empty({rows}, Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "layer_norm", [&] {
    using T = scalar_t;
    cpu::layer_norm_forward(out.data<T>(), mean.data<T>(), rstd.data<T>(), xc.data<T>(), data_or_null<T>(wc),
                            data_or_null<T>(bc), rows, n, eps);
  });
  if (any_requires_grad({x, weight, bias})) {
    const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
               gb = bias.defined() && bias.requires_grad();
    record("layer_norm", {x, weight, bias}, {out},
           [xc, wc, mean, rstd, rows, n, ns = normalized_shape, gx, gw, gb](const TensorList& g) -> TensorList {
             Tensor gc = plain(g[0]);
             Tensor dx = gx ? empty(xc.shape(), Options(gc.dtype())) : Tensor();
             Tensor dw = gw ? empty(ns, Options(gc.dtype())) : Tensor();
             Tensor db = gb ? empty(ns, Options(gc.dtype())) : Tensor();
             EMBER_DISPATCH_FLOAT(gc.dtype(), "layer_norm backward", [&] {
               using T = scalar_t;
               cpu::layer_norm_backward(data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db),
                                        gc.data<T>(), xc.data<T>(), mean.data<T>(), rstd.data<T>(),
                                        data_or_null<T>(wc), rows, n);
             });
             return {dx, dw, db};
           });
  }
  return out;
}

// ---------------- batch norm ----------------

namespace {

// Batch statistics of x (N, C, HW): mean and rstd for normalising (biased variance), and
// the running statistics moved towards them in place (unbiased variance), without a graph.
void batch_stats_and_update(const Tensor& xc, Tensor& mean, Tensor& rstd, Tensor running_mean, Tensor running_var,
                            double momentum, double eps) {
  NoGradGuard ng;
  const int64_t N = xc.size(0), C = xc.size(1), HW = xc.size(2) * xc.size(3);
  Tensor var = empty({C}, Options(xc.dtype()));
  // Updated through contiguous aliases (copies only for strided buffers, written back below).
  Tensor rm = plain(running_mean), rv = plain(running_var);
  EMBER_DISPATCH_FLOAT(xc.dtype(), "batch_norm2d", [&] {
    using T = scalar_t;
    cpu::batch_norm_stats(mean.data<T>(), var.data<T>(), xc.data<T>(), N, C, HW);
    cpu::batch_norm_update_running(data_or_null<T>(rm), data_or_null<T>(rv), mean.data<T>(), var.data<T>(),
                                   C, N * HW, momentum);
    T* r = rstd.data<T>();
    const T* v = var.data<T>();
    for (int64_t c = 0; c < C; ++c) r[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(v[c]) + eps));
  });
  if (running_mean.defined() && rm.storage() != running_mean.storage()) copy_(running_mean, rm);
  if (running_var.defined() && rv.storage() != running_var.storage()) copy_(running_var, rv);
}

void check_batch_norm_args(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training) {
  EMBER_CHECK(x.dim() == 4, "batch_norm2d: input must be 4-D (N, C, H, W), got ", x.shape());
  EMBER_CHECK(x.device().is_cpu(), "batch_norm2d: no CUDA kernel yet (CPU tensors only)");
  const Shape c_shape{x.size(1)};
  check_param(weight, x, c_shape, "batch_norm2d", "weight");
  check_param(bias, x, c_shape, "batch_norm2d", "bias");
  check_param(running_mean, x, c_shape, "batch_norm2d", "running_mean");
  check_param(running_var, x, c_shape, "batch_norm2d", "running_var");
  if (training) {
    EMBER_CHECK(x.size(0) * x.size(2) * x.size(3) > 1,
                "batch_norm2d: expected more than 1 value per channel when training, got input ", x.shape());
  } else {
    EMBER_CHECK(running_mean.defined() && running_var.defined(),
                "batch_norm2d: eval mode needs running_mean and running_var");
  }
}

}  // namespace

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum, double eps) {
  check_batch_norm_args(x, weight, bias, running_mean, running_var, training);
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  Tensor xc = plain(x), wc = plain(weight), bc = plain(bias);
  Tensor mean = empty({C}, Options(x.dtype())), rstd = empty({C}, Options(x.dtype()));
  if (training) {
    batch_stats_and_update(xc, mean, rstd, running_mean, running_var, momentum, eps);
  } else {
    copy_(mean, running_mean);
    Tensor rv = plain(running_var);
    EMBER_DISPATCH_FLOAT(x.dtype(), "batch_norm2d", [&] {
      using T = scalar_t;
      T* r = rstd.data<T>();
      const T* v = rv.data<T>();
      for (int64_t c = 0; c < C; ++c) r[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(v[c]) + eps));
    });
  }
  Tensor out = empty(x.shape(), Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "batch_norm2d", [&] {
    using T = scalar_t;
    cpu::batch_norm_apply(out.data<T>(), xc.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(wc),
                          data_or_null<T>(bc), N, C, HW);
  });
  if (any_requires_grad({x, weight, bias})) {
    const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
               gb = bias.defined() && bias.requires_grad();
    // In eval mode mean and rstd are constants, so the backward is a per-channel scale.
    record("batch_norm2d", {x, weight, bias}, {out},
           [xc, wc, mean, rstd, N, C, HW, training, gx, gw, gb](const TensorList& g) -> TensorList {
             Tensor gc = plain(g[0]);
             Tensor dx = gx ? empty(xc.shape(), Options(gc.dtype())) : Tensor();
             Tensor dw = gw ? empty({C}, Options(gc.dtype())) : Tensor();
             Tensor db = gb ? empty({C}, Options(gc.dtype())) : Tensor();
             EMBER_DISPATCH_FLOAT(gc.dtype(), "batch_norm2d backward", [&] {
               using T = scalar_t;
               cpu::batch_norm_backward(data_or_null<T>(dx), data_or_null<T>(dw), data_or_null<T>(db),
                                        gc.data<T>(), xc.data<T>(), mean.data<T>(), rstd.data<T>(),
                                        data_or_null<T>(wc), N, C, HW, training);
             });
             return {dx, dw, db};
           });
  }
  return out;
}

}  // namespace ember
