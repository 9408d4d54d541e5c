// engine/ops/index.cpp — index_select, embedding and gather: forward dispatch and backward rule
// side by side (kernels in kernels/cpu/index.h).
//
// All three read values at integer positions; their backward scatter-adds the output gradient
// into zeros of the input's shape, so an index that repeats sums its gradients. Every index is
// checked before a kernel reads it, and the error names the bad value, where it sits in the
// index tensor, and the size it had to be below.
#include "engine/ops.h"
#include "kernels/cpu/index.h"

namespace ember {

namespace {

// idx (contiguous) all in [0, size), else an error naming the first bad value and its position.
void check_range(const Tensor& idx, int64_t size, const char* op, const std::string& what) {
  EMBER_DISPATCH_INDEX(idx.dtype(), op, [&] {
    const index_t* p = idx.data<index_t>();
    const int64_t bad = cpu::first_out_of_range(p, idx.numel(), size);
    if (bad < 0) return;
    Shape at(idx.shape().size());  // the flat position as coordinates in idx's shape
    for (int64_t d = idx.dim() - 1, rest = bad; d >= 0; --d) {
      at[d] = rest % idx.size(d);
      rest /= idx.size(d);
    }
    EMBER_FAIL(op, ": index ", static_cast<int64_t>(p[bad]), " at position ", at, " is out of range for ", what,
               " of size ", size, " (expected 0..", size - 1, ")");
  });
}

void check_index_tensor(const Tensor& idx, const Tensor& x, const char* op) {
  EMBER_CHECK(idx.dtype() == DType::I32 || idx.dtype() == DType::I64, op,
              ": the index must be an int32 or int64 tensor, got ", idx.dtype());
  EMBER_CHECK(x.device().is_cpu() && idx.device().is_cpu(), op, ": no CUDA kernel yet (CPU tensors only)");
}

// x's values, contiguous, without recording a graph.
Tensor contiguous_values(const Tensor& x) {
  NoGradGuard ng;
  return x.detach().contiguous();
}

// Picks slices `idx` of the middle dim of x read as (outer, n, inner); records the scatter-add
// backward, which skips slices equal to `skip` (−1: none). Output (outer, k, inner) as out_shape.
Tensor select_slices(const char* op, const Tensor& x, const Tensor& idx, int64_t outer, int64_t n, int64_t inner,
                     const Shape& out_shape, int64_t skip) {
  const int64_t k = idx.numel();
  Tensor xc = contiguous_values(x);
  Tensor out = empty(out_shape, Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), op, [&] {
    EMBER_DISPATCH_INDEX(idx.dtype(), op, [&] {
      cpu::index_select_forward(out.data<scalar_t>(), xc.data<scalar_t>(), idx.data<index_t>(), outer, n, k, inner);
    });
  });
  if (any_requires_grad({x}))
    record(op, {x, idx}, {out}, [op, idx, outer, n, k, inner, skip, xs = x.shape()](const TensorList& g) -> TensorList {
      Tensor gc = g[0].contiguous();
      Tensor gx = zeros(xs, Options(gc.dtype(), gc.device()));
      EMBER_DISPATCH_FLOAT(gc.dtype(), op, [&] {
        EMBER_DISPATCH_INDEX(idx.dtype(), op, [&] {
          cpu::index_add(gx.data<scalar_t>(), gc.data<scalar_t>(), idx.data<index_t>(), outer, n, k, inner, skip);
        });
      });
      return {gx, Tensor()};
    });
  return out;
}

}  // namespace

// index: 1-D (a 0-d index picks one slice and keeps the dim, as torch.index_select).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor(index, x, "index_select");
  EMBER_CHECK(x.dim() >= 1, "index_select: the input must be at least 1-D, got a 0-d tensor");
  EMBER_CHECK(index.dim() <= 1, "index_select: the index must be 1-D, got shape ", index.shape());
  const int64_t d = wrap_dim(dim, x.dim(), "index_select");
  Tensor idx = save(index).contiguous();
  check_range(idx, x.size(d), "index_select", detail::str("dim ", d, " of the input ", x.shape()));
  int64_t outer = 1, inner = 1;
  for (int64_t j = 0; j < d; ++j) outer *= x.size(j);
  for (int64_t j = d + 1; j < x.dim(); ++j) inner *= x.size(j);
  Shape out_shape = x.shape();
  out_shape[d] = idx.numel();
  return select_slices("index_select", x, idx, outer, x.size(d), inner, out_shape, -1);
}

// A negative padding_idx means none (ember's default −1 stands for PyTorch's None; it does not
// count from the end).
Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx) {
  check_index_tensor(indices, weight, "embedding");
  EMBER_CHECK(weight.dim() == 2, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape ",
              weight.shape());
  const int64_t num = weight.size(0), dim = weight.size(1);
  EMBER_CHECK(padding_idx < num, "embedding: padding_idx ", padding_idx, " is out of range for ", num,
              " embeddings (expected 0..", num - 1, ", or negative for none)");
  Tensor idx = save(indices).contiguous();
  check_range(idx, num, "embedding", detail::str("the rows of weight ", weight.shape()));
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  return select_slices("embedding", weight, idx, 1, num, dim, out_shape, padding_idx < 0 ? -1 : padding_idx);
}

// torch.gather: out[p] = x[p with p[dim] replaced by index[p]], out has index's shape.
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index_tensor(index, x, "gather");
  EMBER_CHECK(x.dim() >= 1, "gather: the input must be at least 1-D, got a 0-d tensor");
  EMBER_CHECK(index.dim() == x.dim(), "gather: index must have the input's rank ", x.dim(), ", got index shape ",
              index.shape(), " for input ", x.shape());
  const int64_t d = wrap_dim(dim, x.dim(), "gather");
  for (int64_t j = 0; j < x.dim(); ++j)
    EMBER_CHECK(j == d || index.size(j) <= x.size(j), "gather: index shape ", index.shape(), " exceeds input shape ",
                x.shape(), " in dim ", j, " (", index.size(j), " > ", x.size(j), "; only dim ", d, " may differ)");
  Tensor idx = save(index).contiguous();
  check_range(idx, x.size(d), "gather", detail::str("dim ", d, " of the input ", x.shape()));
  Tensor xv = save(x);  // any strides: the kernel reads x where it lies
  Tensor out = empty(idx.shape(), Options(x.dtype(), x.device()));
  const int64_t nd = x.dim();
  EMBER_DISPATCH_FLOAT(x.dtype(), "gather", [&] {
    EMBER_DISPATCH_INDEX(idx.dtype(), "gather", [&] {
      cpu::gather_forward(out.data<scalar_t>(), xv.data<scalar_t>(), xv.strides().data(), idx.data<index_t>(),
                          idx.shape().data(), nd, d);
    });
  });
  if (any_requires_grad({x}))
    record("gather", {x, index}, {out}, [idx, d, nd, xs = x.shape()](const TensorList& g) -> TensorList {
      Tensor gc = g[0].contiguous();
      Tensor gx = zeros(xs, Options(gc.dtype(), gc.device()));
      EMBER_DISPATCH_FLOAT(gc.dtype(), "gather backward", [&] {
        EMBER_DISPATCH_INDEX(idx.dtype(), "gather backward", [&] {
          cpu::scatter_add(gx.data<scalar_t>(), gx.strides().data(), gc.data<scalar_t>(), idx.data<index_t>(),
                           idx.shape().data(), nd, d);
        });
      });
      return {gx, Tensor()};
    });
  return out;
}

}  // namespace ember
