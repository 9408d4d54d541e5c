// engine/ops/reduce.cpp — sum, mean, max, var over any dims (keepdim), and sum_to.
//
// Every reduction is planned the same way: permute the reduced dims to the end, make the
// result contiguous (a copy unless they already are last), and reduce rows of length n.
// Backward rules broadcast the output gradient back over the reduced dims.
#include <algorithm>

#include "engine/ops.h"
#include "engine/ops/pointwise.h"
#include "kernels/cpu/reduce.h"

namespace ember {

namespace {

struct ReducePlan {
  Shape kept_shape;  // output shape with keepdim (reduced dims are 1)
  Shape out_shape;   // output shape as asked (reduced dims dropped unless keepdim)
  Shape perm;        // kept dims in order, then reduced dims
  int64_t rows = 1, n = 1;
};

ReducePlan plan_reduce(const Tensor& x, const Shape& dims_in, bool keepdim, const char* op) {
  const int64_t nd = x.dim();
  std::vector<bool> reduced(static_cast<size_t>(nd), dims_in.empty());
  for (int64_t d : dims_in) {
    int64_t w = wrap_dim(d, nd, op);
    EMBER_CHECK(!reduced[w] || dims_in.empty(), op, ": dim ", d, " given twice in ", dims_in);
    reduced[w] = true;
  }
  ReducePlan p;
  for (int64_t d = 0; d < nd; ++d) {
    if (reduced[d]) {
      p.n *= x.size(d);
      p.kept_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    } else {
      p.rows *= x.size(d);
      p.perm.push_back(d);
      p.kept_shape.push_back(x.size(d));
      p.out_shape.push_back(x.size(d));
    }
  }
  for (int64_t d = 0; d < nd; ++d)
    if (reduced[d]) p.perm.push_back(d);
  return p;
}

// x with the reduced dims last, contiguous, without recording a graph.
Tensor rows_of(const Tensor& x, const ReducePlan& p) {
  NoGradGuard ng;
  return x.permute(p.perm).contiguous();
}

// g (out_shape) → broadcast view of x's shape.
Tensor expand_back(const Tensor& g, const ReducePlan& p, const Shape& x_shape) {
  return g.reshape(p.kept_shape).expand(x_shape);
}

// When x is contiguous and its reduced dims are one block [first, last], it reads in place as
// (outer, n, inner). Returns false otherwise.
bool as_middle_block(const Tensor& x, const ReducePlan& p, int64_t& outer, int64_t& inner) {
  if (!x.is_contiguous()) return false;
  // Size-1 dims do not affect the layout; among the others the reduced ones must be adjacent.
  int64_t first = -1, last = -1;
  bool after_block = false;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.size(d) == 1) continue;
    bool reduced = p.kept_shape[d] == 1;
    if (reduced) {
      if (after_block) return false;
      if (first < 0) first = d;
      last = d;
    } else if (first >= 0) {
      after_block = true;
    }
  }
  if (first < 0) return false;
  outer = 1;
  inner = 1;
  for (int64_t d = 0; d < first; ++d) outer *= x.size(d);
  for (int64_t d = last + 1; d < x.dim(); ++d) inner *= x.size(d);
  return inner > 1;  // inner == 1 is the plain row case
}

Tensor sum_impl(const Tensor& x, const ReducePlan& p, double scale, const char* op) {
  EMBER_CHECK(x.device().is_cpu(), op, ": no CUDA kernel yet (CPU tensors only)");
  Tensor out = empty(p.out_shape, Options(x.dtype(), x.device()));
  int64_t outer = 0, inner = 0;
  if (as_middle_block(x, p, outer, inner)) {
    EMBER_DISPATCH_FLOAT(x.dtype(), op, [&] {
      cpu::sum_middle(out.data<scalar_t>(), x.data<scalar_t>(), outer, p.n, inner, scale);
    });
    return out;
  }
  Tensor r = rows_of(x, p);
  EMBER_DISPATCH_FLOAT(x.dtype(), op,
                       [&] { cpu::sum_rows(out.data<scalar_t>(), r.data<scalar_t>(), p.rows, p.n, scale); });
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& dims, bool keepdim) {
  ReducePlan p = plan_reduce(x, dims, keepdim, "sum");
  Tensor out = sum_impl(x, p, 1.0, "sum");
  if (any_requires_grad({x}))
    record("sum", {x}, {out}, [p, xs = x.shape()](const TensorList& g) -> TensorList {
      return {expand_back(g[0], p, xs)};
    });
  return out;
}

Tensor mean(const Tensor& x, const Shape& dims, bool keepdim) {
  ReducePlan p = plan_reduce(x, dims, keepdim, "mean");
  EMBER_CHECK(p.n > 0, "mean: reducing over an empty dim of shape ", x.shape());
  double scale = 1.0 / static_cast<double>(p.n);
  Tensor out = sum_impl(x, p, scale, "mean");
  if (any_requires_grad({x}))
    record("mean", {x}, {out}, [p, scale, xs = x.shape()](const TensorList& g) -> TensorList {
      return {expand_back(mul_scalar(g[0], scale), p, xs)};
    });
  return out;
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  ReducePlan p = plan_reduce(x, {dim}, keepdim, "max");
  EMBER_CHECK(p.n > 0, "max: reducing over an empty dim of shape ", x.shape());
  EMBER_CHECK(x.device().is_cpu(), "max: no CUDA kernel yet (CPU tensors only)");
  Tensor r = rows_of(x, p);
  Tensor values = empty(p.out_shape, Options(x.dtype(), x.device()));
  Tensor indices = empty(p.out_shape, Options(DType::I64, x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "max", [&] {
    cpu::max_rows(values.data<scalar_t>(), indices.data<int64_t>(), r.data<scalar_t>(), p.rows, p.n);
  });
  if (any_requires_grad({x}))
    record("max", {x}, {values, indices}, [p, idx = indices, xs = x.shape()](const TensorList& g) -> TensorList {
      // Scatter into the permuted (rows, n) layout, then undo the permutation.
      Tensor gr = empty({p.rows, p.n}, Options(g[0].dtype()));
      Tensor gc = g[0].contiguous();
      EMBER_DISPATCH_FLOAT(gc.dtype(), "max backward", [&] {
        cpu::scatter_rows(gr.data<scalar_t>(), gc.data<scalar_t>(), idx.data<int64_t>(), p.rows, p.n);
      });
      Shape permuted(p.perm.size());
      for (size_t i = 0; i < p.perm.size(); ++i) permuted[i] = xs[p.perm[i]];
      Shape inverse(p.perm.size());
      for (size_t i = 0; i < p.perm.size(); ++i) inverse[p.perm[i]] = static_cast<int64_t>(i);
      return {gr.reshape(permuted).permute(inverse)};
    });
  return {values, indices};
}

Tensor var(const Tensor& x, const Shape& dims, int64_t correction, bool keepdim) {
  ReducePlan p = plan_reduce(x, dims, keepdim, "var");
  EMBER_CHECK(x.device().is_cpu(), "var: no CUDA kernel yet (CPU tensors only)");
  Tensor r = rows_of(x, p);
  Tensor out = empty(p.out_shape, Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), "var",
                       [&] { cpu::var_rows(out.data<scalar_t>(), r.data<scalar_t>(), p.rows, p.n, correction); });
  if (any_requires_grad({x}))
    // d var / dx_i = 2 (x_i − mean) / (n − correction)
    record("var", {x}, {out}, [p, correction, xv = save(x)](const TensorList& g) -> TensorList {
      Tensor row_mean = expand_back(sum_impl(xv, p, 1.0 / static_cast<double>(p.n), "var"), p, xv.shape());
      Tensor centered = sub(xv, row_mean);
      double k = 2.0 / static_cast<double>(p.n - correction);
      return {mul(centered, expand_back(mul_scalar(g[0], k), p, xv.shape()))};
    });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  EMBER_CHECK(shape.size() <= x.shape().size(), "sum_to: cannot sum shape ", x.shape(), " to a larger rank ", shape);
  size_t lead = x.shape().size() - shape.size();
  Shape dims;
  for (size_t i = 0; i < x.shape().size(); ++i) {
    if (i < lead) dims.push_back(static_cast<int64_t>(i));
    else if (shape[i - lead] == 1 && x.shape()[i] != 1) dims.push_back(static_cast<int64_t>(i));
    else EMBER_CHECK(shape[i - lead] == x.shape()[i], "sum_to: shape ", x.shape(), " does not broadcast from ", shape);
  }
  if (dims.empty()) return x.reshape(shape);
  return sum(x, dims, true).reshape(shape);
}

}  // namespace ember
