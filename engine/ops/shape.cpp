// engine/ops/shape.cpp — views (reshape, transpose, permute, narrow, expand), contiguous,
// concat and split. Views share storage and only rewrite (shape, strides, offset); the ones
// that copy say so. Backward rules map the gradient back through the inverse view.
#include <numeric>

#include "engine/ops.h"

namespace ember {

namespace {

// A view of x with new metadata; no graph.
Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  auto t = std::make_shared<TensorImpl>();
  t->storage = x.storage();
  t->shape = shape;
  t->strides = strides;
  t->offset = offset;
  t->dtype = x.dtype();
  return Tensor(t);
}

Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      EMBER_CHECK(infer < 0, op, ": only one dim can be -1, got ", shape);
      infer = static_cast<int64_t>(i);
    } else {
      EMBER_CHECK(s[i] >= 0, op, ": invalid size ", s[i], " in ", shape);
      known *= s[i];
    }
  }
  if (infer >= 0) {
    EMBER_CHECK(known != 0 && numel % known == 0, op, ": cannot infer -1 in ", shape, " for ", numel, " elements");
    s[infer] = numel / known;
  }
  EMBER_CHECK(shape_numel(s) == numel, op, ": shape ", shape, " is invalid for input of shape ", from, " (", numel,
              " elements)");
  return s;
}

}  // namespace

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.shape(), Options(x.dtype(), x.device()));  // the copy
  copy_(out, x);
  if (any_requires_grad({x}))
    record("contiguous", {x}, {out}, [](const TensorList& g) -> TensorList { return {g[0]}; });
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Shape s = infer_shape(shape, x.numel(), "reshape", x.shape());
  if (s == x.shape()) return x;
  Tensor src = x.is_contiguous() ? x : contiguous(x);  // copies when x is not contiguous
  Tensor out = make_view(src.detach(), s, contiguous_strides(s), src.offset());
  if (any_requires_grad({src}))
    record("reshape", {src}, {out}, [xs = x.shape()](const TensorList& g) -> TensorList { return {g[0].reshape(xs)}; });
  return out;
}

Tensor permute(const Tensor& x, const Shape& dims) {
  EMBER_CHECK(static_cast<int64_t>(dims.size()) == x.dim(), "permute: ", dims.size(), " dims given for a ", x.dim(),
              "-D tensor of shape ", x.shape());
  Shape shape(dims.size()), strides(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], x.dim(), "permute");
    EMBER_CHECK(!seen[d], "permute: dim ", d, " repeated in ", dims);
    seen[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
    inverse[d] = static_cast<int64_t>(i);
  }
  Tensor out = make_view(x, shape, strides, x.offset());
  if (any_requires_grad({x}))
    record("permute", {x}, {out}, [inverse](const TensorList& g) -> TensorList { return {g[0].permute(inverse)}; });
  return out;
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  Shape dims(static_cast<size_t>(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[wrap_dim(d0, x.dim(), "transpose")], dims[wrap_dim(d1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  int64_t d = wrap_dim(dim, x.dim(), "narrow");
  int64_t n = x.size(d);
  if (start < 0) start += n;
  EMBER_CHECK(start >= 0 && length >= 0 && start + length <= n, "narrow: range [", start, ", ", start + length,
              ") out of bounds for dim ", d, " of size ", n, " (shape ", x.shape(), ")");
  Shape shape = x.shape();
  shape[d] = length;
  Tensor out = make_view(x, shape, x.strides(), x.offset() + start * x.strides()[d]);
  if (any_requires_grad({x}))
    record("narrow", {x}, {out}, [xs = x.shape(), d, start, length](const TensorList& g) -> TensorList {
      Tensor gx = zeros(xs, Options(g[0].dtype(), g[0].device()));
      Tensor region = make_view(gx, g[0].shape(), gx.strides(), start * gx.strides()[d]);
      copy_(region, g[0]);
      return {gx};
    });
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  EMBER_CHECK(shape.size() >= static_cast<size_t>(x.dim()), "expand: target ", shape, " has fewer dims than ",
              x.shape());
  size_t lead = shape.size() - x.shape().size();
  Shape out_shape(shape.size()), strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      EMBER_CHECK(shape[i] >= 0, "expand: new leading dim must be given, got ", shape);
      out_shape[i] = shape[i];
      continue;
    }
    int64_t have = x.shape()[i - lead];
    int64_t want = shape[i] == -1 ? have : shape[i];
    EMBER_CHECK(have == want || have == 1, "expand: cannot expand shape ", x.shape(), " to ", shape, " (dim ", i,
                ": ", have, " to ", want, ")");
    out_shape[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  if (out_shape == x.shape()) return x;
  Tensor out = make_view(x, out_shape, strides, x.offset());
  if (any_requires_grad({x}))
    record("expand", {x}, {out}, [xs = x.shape()](const TensorList& g) -> TensorList { return {sum_to(g[0], xs)}; });
  return out;
}

Tensor concat(const TensorList& xs, int64_t dim) {
  EMBER_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  int64_t d = wrap_dim(dim, first.dim(), "concat");
  Shape shape = first.shape();
  int64_t total = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    EMBER_CHECK(t.dim() == first.dim(), "concat: tensor ", i, " has shape ", t.shape(), ", tensor 0 has ",
                first.shape());
    EMBER_CHECK(t.dtype() == first.dtype() && t.device() == first.device(), "concat: tensor ", i, " is ", t.dtype(),
                " on ", t.device(), ", tensor 0 is ", first.dtype(), " on ", first.device());
    for (int64_t k = 0; k < t.dim(); ++k)
      EMBER_CHECK(k == d || t.shape()[k] == shape[k], "concat: tensor ", i, " has shape ", t.shape(),
                  ", which differs from ", first.shape(), " outside dim ", d);
    total += t.size(d);
  }
  shape[d] = total;
  Tensor out = empty(shape, Options(first.dtype(), first.device()));
  Shape sizes;
  int64_t at = 0;
  for (const Tensor& t : xs) {
    Tensor region = make_view(out, t.shape(), out.strides(), at * out.strides()[d]);
    copy_(region, t);
    sizes.push_back(t.size(d));
    at += t.size(d);
  }
  if (any_requires_grad(xs))
    record("concat", xs, {out}, [sizes, d](const TensorList& g) -> TensorList {
      TensorList parts;
      int64_t start = 0;
      for (int64_t s : sizes) {
        parts.push_back(g[0].narrow(d, start, s));
        start += s;
      }
      return parts;
    });
  return out;
}

TensorList split(const Tensor& x, const Shape& sizes, int64_t dim) {
  int64_t d = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    EMBER_CHECK(s >= 0, "split: negative size in ", sizes);
    total += s;
  }
  EMBER_CHECK(total == x.size(d), "split: sizes ", sizes, " sum to ", total, ", but dim ", d, " has size ", x.size(d));
  TensorList out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, d, start, s));
    start += s;
  }
  return out;
}

TensorList split(const Tensor& x, int64_t split_size, int64_t dim) {
  EMBER_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  int64_t n = x.size(dim);
  Shape sizes;
  for (int64_t at = 0; at < n; at += split_size) sizes.push_back(std::min(split_size, n - at));
  return split(x, sizes, dim);
}

}  // namespace ember
