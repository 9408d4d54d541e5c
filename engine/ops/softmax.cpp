// engine/ops/softmax.cpp — softmax, log_softmax, cross_entropy and dropout: forward dispatch and
// backward rule side by side (kernels in kernels/cpu/softmax.h).
//
// Softmax along dim d reads the contiguous input as (outer, n, inner) with n = size(d): the
// kernel walks each row with stride `inner`, so a middle dim costs no permute-copy.
// cross_entropy is one fused pass (max, log-sum-exp, pick the target) that saves the per-row
// lse for its backward instead of a full softmax. dropout draws its mask from the counter-based
// Philox stream, so a CUDA kernel reserving the same counters draws the same mask.
#include <vector>

#include "engine/ops.h"
#include "engine/ops/pointwise.h"
#include "kernels/cpu/index.h"  // first_out_of_range, to check targets
#include "kernels/cpu/softmax.h"

namespace ember {

namespace {

struct RowPlan {
  int64_t outer = 1, n = 1, inner = 1;  // x read as (outer, n, inner), softmax over n
};

RowPlan plan_rows(const Tensor& x, int64_t dim, const char* op) {
  RowPlan p;
  const int64_t d = wrap_dim(dim, x.dim(), op);  // a 0-d tensor is one row of one value
  for (int64_t k = 0; k < x.dim(); ++k) {
    if (k < d) p.outer *= x.size(k);
    else if (k == d) p.n = x.size(k);
    else p.inner *= x.size(k);
  }
  return p;
}

// x's values, contiguous, without recording a graph (a copy only when x is a strided view).
Tensor contiguous_values(const Tensor& x) {
  NoGradGuard ng;
  return x.detach().contiguous();
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log, const char* op) {
  EMBER_CHECK(x.device().is_cpu(), op, ": no CUDA kernel yet (CPU tensors only)");
  const RowPlan p = plan_rows(x, dim, op);
  Tensor xc = contiguous_values(x);
  Tensor out = empty(x.shape(), Options(x.dtype(), x.device()));
  EMBER_DISPATCH_FLOAT(x.dtype(), op, [&] {
    cpu::softmax_forward(out.data<scalar_t>(), xc.data<scalar_t>(), p.outer, p.n, p.inner, log);
  });
  if (any_requires_grad({x}))
    record(op, {x}, {out}, [p, log, op, y = save(out)](const TensorList& g) -> TensorList {
      Tensor gc = g[0].contiguous();
      Tensor gx = empty(y.shape(), Options(y.dtype(), y.device()));
      EMBER_DISPATCH_FLOAT(y.dtype(), op, [&] {
        if (log)
          cpu::log_softmax_backward(gx.data<scalar_t>(), gc.data<scalar_t>(), y.data<scalar_t>(), p.outer, p.n, p.inner);
        else
          cpu::softmax_backward(gx.data<scalar_t>(), gc.data<scalar_t>(), y.data<scalar_t>(), p.outer, p.n, p.inner);
      });
      return {gx};
    });
  return out;
}

void check_cross_entropy_inputs(const Tensor& logits, const Tensor& targets) {
  EMBER_CHECK(logits.dim() == 2, "cross_entropy: logits must be 2-D (N, C), got shape ", logits.shape(),
              " (for (N, C, d1, ...) move C last and flatten to (N·d1·..., C), targets to (N·d1·...))");
  EMBER_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "cross_entropy: targets must be 1-D (N) = (",
              logits.size(0), ") class indices for logits of shape ", logits.shape(), ", got shape ",
              targets.shape());
  EMBER_CHECK(targets.dtype() == DType::I32 || targets.dtype() == DType::I64,
              "cross_entropy: targets must be int32 or int64 class indices, got ", targets.dtype());
  EMBER_CHECK(logits.device().is_cpu() && targets.device().is_cpu(), "cross_entropy: no CUDA kernel yet (CPU tensors only)");
}

// Every target is a class in [0, C) or ignore_index; the error names the first that is not.
void check_targets(const Tensor& t, int64_t C, int64_t ignore_index) {
  EMBER_DISPATCH_INDEX(t.dtype(), "cross_entropy", [&] {
    const index_t* p = t.data<index_t>();
    const int64_t bad = cpu::first_out_of_range(p, t.numel(), C, &ignore_index);
    EMBER_CHECK(bad < 0, "cross_entropy: target ", static_cast<int64_t>(p[bad]), " at row ", bad,
                " is out of range for ", C, " classes (expected 0..", C - 1, ", or ignore_index = ", ignore_index,
                ")");
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

// With every target ignored the loss is 0/0 = NaN, as in PyTorch, and the gradient is zero
// (no row contributes).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  check_cross_entropy_inputs(logits, targets);
  const int64_t N = logits.size(0), C = logits.size(1);
  Tensor x = contiguous_values(logits);
  Tensor t = targets.contiguous();
  check_targets(t, C, ignore_index);
  Tensor loss = empty({}, Options(logits.dtype(), logits.device()));
  Tensor lse = empty({N}, Options(logits.dtype(), logits.device()));
  int64_t count = 0;
  EMBER_DISPATCH_FLOAT(x.dtype(), "cross_entropy", [&] {
    EMBER_DISPATCH_INDEX(t.dtype(), "cross_entropy", [&] {
      count = cpu::cross_entropy_forward(loss.data<scalar_t>(), lse.data<scalar_t>(), x.data<scalar_t>(),
                                         t.data<index_t>(), N, C, ignore_index);
    });
  });
  if (any_requires_grad({logits}))
    record("cross_entropy", {logits, targets}, {loss},
           [x, lse, t, count, ignore_index](const TensorList& g) -> TensorList {
             if (count == 0) return {zeros(x.shape(), Options(x.dtype(), x.device())), Tensor()};
             Tensor gx = empty(x.shape(), Options(x.dtype(), x.device()));  // the kernel writes every element
             const double scale = g[0].item() / static_cast<double>(count);
             const int64_t N = x.size(0), C = x.size(1);
             EMBER_DISPATCH_FLOAT(x.dtype(), "cross_entropy backward", [&] {
               EMBER_DISPATCH_INDEX(t.dtype(), "cross_entropy backward", [&] {
                 cpu::cross_entropy_backward(gx.data<scalar_t>(), x.data<scalar_t>(), lse.data<scalar_t>(),
                                             t.data<index_t>(), N, C, ignore_index, scale);
               });
             });
             return {gx, Tensor()};
           });
  return loss;
}

// The mask reserves ceil(numel/4) Philox counters from the generator (4 words per counter), so
// consecutive calls draw fresh masks and a generator re-seeded the same way repeats them.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  EMBER_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  EMBER_CHECK(x.device().is_cpu(), "dropout: no CUDA kernel yet (CPU tensors only)");
  Generator& g = gen ? *gen : default_generator();
  const int64_t n = x.numel();
  const uint64_t seed = g.seed();
  const uint64_t base = g.advance(static_cast<uint64_t>((n + 3) / 4));
  Tensor mask = empty(x.shape(), Options(x.dtype(), x.device()));  // 0 or 1/(1-p)
  std::vector<uint8_t> keep(static_cast<size_t>(n));
  philox_keep_mask(keep.data(), seed, base, 0, n, p);
  EMBER_DISPATCH_FLOAT(x.dtype(), "dropout", [&] { cpu::dropout_mask(mask.data<scalar_t>(), keep.data(), n, p); });
  Tensor out = detail::zip(x, mask, fn::Mul{}, "dropout");
  if (any_requires_grad({x}))
    record("dropout", {x}, {out}, [mask](const TensorList& g) -> TensorList {
      return {detail::zip(g[0], mask, fn::Mul{}, "dropout backward")};
    });
  return out;
}

}  // namespace ember
