// ops.h — every differentiable op of ember, as free functions. One line per op in ops.def.
//
// Each op lives in the family file named in ops.def: its forward dispatch (check inputs,
// allocate, call the CPU or CUDA kernel) and its backward rule side by side. Semantics
// follow PyTorch's function of the same name unless a comment says otherwise.
#pragma once

#include <array>
#include <limits>
#include <tuple>
#include <utility>

#include "engine/autograd.h"
#include "engine/random.h"
#include "engine/tensor.h"

namespace ember {

// ---------------- elementwise (broadcasting like NumPy/PyTorch) ----------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);  // a > 0 where b is not an integer
Tensor maximum(const Tensor& a, const Tensor& b);  // ties send the gradient half to each side
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor pow_scalar(const Tensor& a, double exponent);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor gelu(const Tensor& a);  // exact: x * Φ(x) = 0.5 x (1 + erf(x/√2)), as BERT uses
Tensor clamp(const Tensor& a, double lo = -std::numeric_limits<double>::infinity(),
             double hi = std::numeric_limits<double>::infinity());
Tensor cast(const Tensor& a, DType dtype);  // Tensor::to(DType); gradient flows between floats

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(const Tensor& a, double s);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(const Tensor& a, double s);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(const Tensor& a, double s);
Tensor operator/(double s, const Tensor& a);

// ---------------- reductions ----------------
// `dims` empty means all dims. Negative dims count from the end.
Tensor sum(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Shape& dims = {}, bool keepdim = false);
// Max along one dim: (values, int64 indices). Ties pick the first index; the gradient
// goes to that element only, as in PyTorch.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
// Variance with Bessel-style correction (1 = unbiased, as torch.var's default).
Tensor var(const Tensor& x, const Shape& dims = {}, int64_t correction = 1, bool keepdim = false);
// Sums x down to `shape` (the reverse of broadcasting): what backward rules of
// broadcasting ops use.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---------------- linear algebra ----------------
// Matrix product with NumPy/PyTorch rules: 1-D operands promoted, batch dims broadcast.
Tensor matmul(const Tensor& a, const Tensor& b);
// x·Wᵀ + b through one GEMM. x (..., in), W (out, in), b (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---------------- shape and indexing ----------------
Tensor reshape(const Tensor& x, const Shape& shape);  // view when contiguous, else a copy
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const Shape& dims);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor contiguous(const Tensor& x);
Tensor concat(const TensorList& xs, int64_t dim);
TensorList split(const Tensor& x, int64_t split_size, int64_t dim);  // last piece may be smaller
TensorList split(const Tensor& x, const Shape& sizes, int64_t dim);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: 1-D int
// weight (num, dim), indices int of any shape → (*indices.shape, dim). Rows equal to
// padding_idx read as they are but receive no gradient (torch.nn.functional.embedding).
Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx = -1);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// mask: any dtype, nonzero = fill; broadcast to x's shape.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);
// cond: any dtype, nonzero picks a; cond, a, b broadcast together.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---------------- softmax, losses, dropout ----------------
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// logits (N, C), targets (N) int: mean over targets != ignore_index of -log softmax.
// Computed from log_softmax, so large logits do not overflow.
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);
// Inverted dropout: in training, zero with probability p and scale survivors by 1/(1-p).
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// ---------------- normalisation ----------------
// Normalises over the last normalized_shape.size() dims. weight/bias may be undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);
// x (N, C, H, W). Training: normalise with batch statistics (biased variance) and update
// running_mean/var in place with momentum (unbiased variance, as PyTorch). Eval: use the
// running statistics. running stats may be undefined in training (track_running_stats=False).
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// ---------------- convolution, pooling, resize ----------------
struct Pair2 {
  int64_t h = 0, w = 0;
  Pair2(int64_t v) : h(v), w(v) {}  // NOLINT: conv2d(x, w, b, 2) means stride 2 both ways
  Pair2(int64_t h_, int64_t w_) : h(h_), w(w_) {}
};
// x (N, Cin, H, W), weight (Cout, Cin, kh, kw), bias (Cout) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Pair2 stride = 1,
              Pair2 padding = 0, Pair2 dilation = 1);
Tensor max_pool2d(const Tensor& x, Pair2 kernel, Pair2 stride, Pair2 padding = 0);
Tensor adaptive_avg_pool2d(const Tensor& x, Pair2 output_size);
// torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False).
Tensor interpolate_bilinear(const Tensor& x, Pair2 size);

// ---------------- fused sequence ops ----------------
// One LSTM step after the projections: gates (B, 4H) = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh in
// torch.nn.LSTM's order i, f, g, o; c (B, H). Returns (h', c') with
//   c' = σ(f)⊙c + σ(i)⊙tanh(g),  h' = σ(o)⊙tanh(c').
std::pair<Tensor, Tensor> lstm_cell(const Tensor& gates, const Tensor& c);
// One LSTM layer over a whole sequence, the step loop inside one op:
//   gates_t = xproj_t + h_{t−1}·W_hhᵀ + b_hh,  (h_t, c_t) = lstm_cell(gates_t, c_{t−1})
// xproj (T, B, 4H) is x·W_ihᵀ + b_ih for every step (one GEMM outside), w_hh (4H, H), b_hh (4H),
// h0/c0 (B, H). Returns {out (T, B, H) = every h_t, h_T, c_T}. The same function as the
// composition of linear, add and lstm_cell per step (tests check both ways), without a graph
// node per step: the backward runs the recurrence once in reverse, then forms the W_hh gradient
// with GEMMs over all steps at once and the b_hh gradient with one sum.
std::tuple<Tensor, Tensor, Tensor> lstm_layer(const Tensor& xproj, const Tensor& w_hh, const Tensor& b_hh,
                                              const Tensor& h0, const Tensor& c0);
// q (B, H, Tq, D), k/v (B, H, Tk, D) → (B, H, Tq, D). mask broadcastable to (B, H, Tq, Tk):
// an integer mask keeps positions where it is nonzero (PyTorch's boolean attn_mask), a
// floating mask is added to the scores. scale defaults to 1/√D.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask = Tensor(), double dropout_p = 0.0,
                                    bool training = false, double scale = 0.0,
                                    Generator* gen = nullptr);

// ---------------- the op list ----------------
enum class Op {
#define EMBER_OP(name, family, diff) name,
#include "engine/ops.def"
#undef EMBER_OP
};
struct OpInfo {
  const char* name;
  const char* family;
  bool differentiable;
};
const std::vector<OpInfo>& op_list();

}  // namespace ember
