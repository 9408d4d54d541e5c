// engine/ops/linalg.cpp — matmul (batched, broadcasting) and linear, both on cpu::gemm.
//
// A transposed view is handed to GEMM as a transposed operand instead of being copied, so
// the backward products gᵀ·x and g·W cost no extra pass.
#include <algorithm>

#include "engine/ops.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/strided.h"

namespace ember {

namespace {

// How the matrices in the last two dims of t (rows × cols each) are fed to GEMM.
struct Operand {
  Tensor t;  // t itself, or a contiguous copy when its strides suit neither layout
  bool trans = false;
  int64_t ld = 1;
};

Operand as_operand(const Tensor& x) {
  const int64_t nd = x.dim(), r = x.size(-2), c = x.size(-1);
  const int64_t sr = x.strides()[nd - 2], sc = x.strides()[nd - 1];
  if ((sc == 1 || c == 1) && (r == 1 || sr >= std::max<int64_t>(c, 1)))
    return {x, false, r == 1 ? std::max<int64_t>(c, 1) : sr};
  if ((sr == 1 || r == 1) && (c == 1 || sc >= std::max<int64_t>(r, 1)))
    return {x, true, c == 1 ? std::max<int64_t>(r, 1) : sc};
  Tensor copy = x.contiguous();  // the copy
  return {copy, false, std::max<int64_t>(c, 1)};
}

template <class T>
void batched_gemm(const Tensor& a, const Tensor& b, Tensor& out, const Shape& batch) {
  const int64_t n = a.size(-2), k = a.size(-1), m = b.size(-1);
  Operand A = as_operand(a), B = as_operand(b);
  const T* pa = A.t.template data<T>();
  const T* pb = B.t.template data<T>();
  T* po = out.data<T>();
  const int64_t nb = static_cast<int64_t>(batch.size());
  Shape sa(A.t.strides().begin(), A.t.strides().begin() + nb);
  Shape sb(B.t.strides().begin(), B.t.strides().begin() + nb);
  Shape so(out.strides().begin(), out.strides().begin() + nb);
  cpu::for_each_strided<3>(batch.data(), nb, {sa.data(), sb.data(), so.data()}, [&](const std::array<int64_t, 3>& o) {
    cpu::gemm<T>(A.trans, B.trans, n, m, k, T(1), pa + o[0], A.ld, pb + o[1], B.ld, T(0), po + o[2], m);
  });
}

// (..., n, k) @ (..., k, m) with both operands at least 2-D.
Tensor matmul_2d_plus(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), "matmul: operands are ", a.dtype(), " on ",
              a.device(), " and ", b.dtype(), " on ", b.device());
  EMBER_CHECK(a.size(-1) == b.size(-2), "matmul: shapes ", a.shape(), " and ", b.shape(),
              " cannot be multiplied (", a.size(-1), " vs ", b.size(-2), ")");
  EMBER_CHECK(a.device().is_cpu(), "matmul: no CUDA kernel yet (CPU tensors only)");
  const int64_t n = a.size(-2), k = a.size(-1), m = b.size(-1);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(m);
  Tensor out = empty(out_shape, Options(a.dtype(), a.device()));
  {
    NoGradGuard ng;
    Shape ea = batch, eb = batch;
    ea.insert(ea.end(), {n, k});
    eb.insert(eb.end(), {k, m});
    Tensor ax = a.detach().expand(ea), bx = b.detach().expand(eb);
    // With no batch on b and a contiguous a, fold a's batch into the rows: one GEMM.
    if (b.dim() == 2 && a.dim() > 2 && a.is_contiguous()) {
      ax = a.detach().reshape({-1, n, k}).reshape({1, shape_numel(ba) * n, k});
      bx = b.detach().unsqueeze(0);
      Tensor o = out.view({1, shape_numel(ba) * n, m});
      EMBER_DISPATCH_FLOAT(a.dtype(), "matmul", [&] { batched_gemm<scalar_t>(ax, bx, o, {1}); });
    } else {
      EMBER_DISPATCH_FLOAT(a.dtype(), "matmul", [&] { batched_gemm<scalar_t>(ax, bx, out, batch); });
    }
  }
  if (any_requires_grad({a, b})) {
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("matmul", {a, b}, {out}, [x = save(a), y = save(b), ga, gb](const TensorList& g) -> TensorList {
      return {ga ? sum_to(matmul(g[0], y.transpose(-1, -2)), x.shape()) : Tensor(),
              gb ? sum_to(matmul(x.transpose(-1, -2), g[0]), y.shape()) : Tensor()};
    });
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: operands must be at least 1-D, got ", a.shape(), " and ",
              b.shape());
  // 1-D operands as in NumPy: a vector a is a row (1, k), a vector b a column (k, 1); the
  // added dim is removed from the result.
  Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor out = matmul_2d_plus(a2, b2);
  if (b.dim() == 1) out = out.squeeze(-1);
  if (a.dim() == 1) out = out.squeeze(b.dim() == 1 ? -1 : -2);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  EMBER_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out, in), got ", weight.shape());
  EMBER_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input of shape ", x.shape(),
              " does not end in in_features = ", weight.size(1), " (weight ", weight.shape(), ")");
  EMBER_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), "linear: bias must be (",
              weight.size(0), "), got ", bias.shape());
  EMBER_CHECK(x.dtype() == weight.dtype() && (!bias.defined() || bias.dtype() == x.dtype()),
              "linear: dtype mismatch: input ", x.dtype(), ", weight ", weight.dtype());
  EMBER_CHECK(x.device().is_cpu() && weight.device().is_cpu(), "linear: no CUDA kernel yet (CPU tensors only)");
  const int64_t in = weight.size(1), outf = weight.size(0);
  Tensor x2 = x.reshape({-1, in});  // a view unless x is not contiguous
  const int64_t rows = x2.size(0);
  Tensor out = empty({rows, outf}, Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "linear", [&] {
    using T = scalar_t;
    T* po = out.data<T>();
    T beta = T(0);
    if (bias.defined()) {  // C starts as the bias in every row, then GEMM adds x·Wᵀ
      Tensor bc = bias.contiguous();
      const T* pb = bc.data<T>();
      for (int64_t r = 0; r < rows; ++r) std::copy(pb, pb + outf, po + r * outf);
      beta = T(1);
    }
    Operand W = as_operand(weight);
    Tensor xc = x2.detach().contiguous();
    // x2 (rows, in) · Wᵀ: W stored (out, in) is op(B) = Bᵀ.
    cpu::gemm<T>(false, !W.trans, rows, outf, in, T(1), xc.data<T>(), in, W.t.template data<T>(), W.ld, beta, po,
                 outf);
  });
  if (any_requires_grad({x2, weight, bias})) {
    bool gx = x2.requires_grad(), gw = weight.requires_grad(), gb = bias.defined() && bias.requires_grad();
    record("linear", {x2, weight, bias}, {out},
           [xs = save(x2), w = save(weight), gx, gw, gb](const TensorList& g) -> TensorList {
             return {gx ? matmul(g[0], w) : Tensor(), gw ? matmul(g[0].transpose(0, 1), xs) : Tensor(),
                     gb ? sum(g[0], {0}) : Tensor()};
           });
  }
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(outf);
  return out.reshape(out_shape);
}

}  // namespace ember
