// engine/ops/elementwise.cpp — pointwise ops with broadcasting: forward and backward side by side.
//
// Forward: a functor from kernels/functors.h through detail::map/zip (engine/ops/pointwise.h).
// Backward: the input gradient is a pointwise function of (g, x) or (g, y), so most rules are
// one fused pass (zip(g, y, fn::TanhGrad{})); a broadcast input sums its gradient back to its
// own shape with sum_to.
#include "engine/ops.h"
#include "engine/ops/pointwise.h"

namespace ember {

using detail::map;
using detail::zip;
using detail::zip3;

namespace {

// A unary op whose derivative is a function of (g, x): relu, abs, log, gelu, clamp, pow_scalar.
template <class F, class G>
Tensor unary_grad_of_input(const char* name, const Tensor& a, F f, G grad) {
  Tensor out = map(a, f, name);
  if (any_requires_grad({a}))
    record(name, {a}, {out}, [x = save(a), grad, name](const TensorList& g) -> TensorList {
      return {zip(g[0], x, grad, name)};
    });
  return out;
}

// A unary op whose derivative is a function of (g, y), y its output: exp, tanh, sigmoid, sqrt.
template <class F, class G>
Tensor unary_grad_of_output(const char* name, const Tensor& a, F f, G grad) {
  Tensor out = map(a, f, name);
  if (any_requires_grad({a}))
    record(name, {a}, {out}, [y = save(out), grad, name](const TensorList& g) -> TensorList {
      return {zip(g[0], y, grad, name)};
    });
  return out;
}

}  // namespace

// ---------------- binary ----------------

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = zip(a, b, fn::Add{}, "add");
  if (any_requires_grad({a, b}))
    record("add", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const TensorList& g) -> TensorList {
      return {sum_to(g[0], sa), sum_to(g[0], sb)};
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = zip(a, b, fn::Sub{}, "sub");
  if (any_requires_grad({a, b}))
    record("sub", {a, b}, {out}, [sa = a.shape(), sb = b.shape()](const TensorList& g) -> TensorList {
      return {sum_to(g[0], sa), neg(sum_to(g[0], sb))};
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = zip(a, b, fn::Mul{}, "mul");
  if (any_requires_grad({a, b})) {
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("mul", {a, b}, {out}, [x = save(a), y = save(b), ga, gb](const TensorList& g) -> TensorList {
      return {ga ? sum_to(zip(g[0], y, fn::Mul{}, "mul"), x.shape()) : Tensor(),
              gb ? sum_to(zip(g[0], x, fn::Mul{}, "mul"), y.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = zip(a, b, fn::Div{}, "div");
  if (any_requires_grad({a, b})) {
    bool gb = b.requires_grad();
    // d(a/b)/da = 1/b; d(a/b)/db = -(a/b)/b = -y/b.
    record("div", {a, b}, {out}, [y = save(out), d = save(b), sa = a.shape(), gb](const TensorList& g) -> TensorList {
      Tensor ga = sum_to(zip(g[0], d, fn::Div{}, "div"), sa);
      Tensor gbv = gb ? sum_to(neg(zip(zip(g[0], y, fn::Mul{}, "div"), d, fn::Div{}, "div")), d.shape()) : Tensor();
      return {ga, gbv};
    });
  }
  return out;
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor out = zip(a, b, fn::Pow{}, "pow");
  if (any_requires_grad({a, b})) {
    bool gb = b.requires_grad();
    // d(a^b)/da = b·a^(b-1); d(a^b)/db = a^b·ln a (needs a > 0).
    record("pow", {a, b}, {out},
           [x = save(a), e = save(b), y = save(out), gb](const TensorList& g) -> TensorList {
             Tensor ga = mul(mul(g[0], e), pow(x, add_scalar(e, -1.0)));
             Tensor gbv = gb ? sum_to(mul(mul(g[0], y), log(x)), e.shape()) : Tensor();
             return {sum_to(ga, x.shape()), gbv};
           });
  }
  return out;
}

namespace {
template <class F, class W>
Tensor extremum(const char* name, const Tensor& a, const Tensor& b, F f, W weight_a) {
  Tensor out = zip(a, b, f, name);
  if (any_requires_grad({a, b}))
    record(name, {a, b}, {out}, [x = save(a), y = save(b), weight_a, name](const TensorList& g) -> TensorList {
      Tensor wa = zip(x, y, weight_a, name);  // 1, ½ on ties, 0
      Tensor ga = mul(g[0], wa);
      Tensor gb = sub(g[0], ga);
      return {sum_to(ga, x.shape()), sum_to(gb, y.shape())};
    });
  return out;
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum("maximum", a, b, fn::Maximum{}, fn::MaxWeightA{}); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum("minimum", a, b, fn::Minimum{}, fn::MinWeightA{}); }

// ---------------- with a scalar ----------------

Tensor add_scalar(const Tensor& a, double s) {
  Tensor out = map(a, fn::AddScalar{s}, "add_scalar");
  if (any_requires_grad({a}))
    record("add_scalar", {a}, {out}, [](const TensorList& g) -> TensorList { return {g[0]}; });
  return out;
}

Tensor mul_scalar(const Tensor& a, double s) {
  Tensor out = map(a, fn::MulScalar{s}, "mul_scalar");
  if (any_requires_grad({a}))
    record("mul_scalar", {a}, {out}, [s](const TensorList& g) -> TensorList { return {mul_scalar(g[0], s)}; });
  return out;
}

Tensor pow_scalar(const Tensor& a, double e) {
  return unary_grad_of_input("pow_scalar", a, fn::PowScalar{e}, fn::PowScalarGrad{e});
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  EMBER_CHECK(lo <= hi, "clamp: lo (", lo, ") must not exceed hi (", hi, ")");
  return unary_grad_of_input("clamp", a, fn::Clamp{lo, hi}, fn::ClampGrad{lo, hi});
}

// ---------------- unary ----------------

Tensor neg(const Tensor& a) {
  Tensor out = map(a, fn::Neg{}, "neg");
  if (any_requires_grad({a}))
    record("neg", {a}, {out}, [](const TensorList& g) -> TensorList { return {neg(g[0])}; });
  return out;
}

Tensor exp(const Tensor& a) { return unary_grad_of_output("exp", a, fn::Exp{}, fn::Mul{}); }
Tensor log(const Tensor& a) { return unary_grad_of_input("log", a, fn::Log{}, fn::LogGrad{}); }
Tensor sqrt(const Tensor& a) { return unary_grad_of_output("sqrt", a, fn::Sqrt{}, fn::SqrtGrad{}); }
Tensor rsqrt(const Tensor& a) { return unary_grad_of_output("rsqrt", a, fn::Rsqrt{}, fn::RsqrtGrad{}); }
Tensor abs(const Tensor& a) { return unary_grad_of_input("abs", a, fn::Abs{}, fn::AbsGrad{}); }
Tensor tanh(const Tensor& a) { return unary_grad_of_output("tanh", a, fn::Tanh{}, fn::TanhGrad{}); }
Tensor sigmoid(const Tensor& a) { return unary_grad_of_output("sigmoid", a, fn::Sigmoid{}, fn::SigmoidGrad{}); }
Tensor relu(const Tensor& a) { return unary_grad_of_input("relu", a, fn::Relu{}, fn::ReluGrad{}); }
Tensor gelu(const Tensor& a) { return unary_grad_of_input("gelu", a, fn::Gelu{}, fn::GeluGrad{}); }

Tensor cast(const Tensor& a, DType dtype) {
  if (a.dtype() == dtype) return a;
  Tensor out = empty(a.shape(), Options(dtype, a.device()));
  copy_(out, a);
  if (is_floating(dtype) && is_floating(a.dtype()) && any_requires_grad({a}))
    record("cast", {a}, {out}, [from = a.dtype()](const TensorList& g) -> TensorList { return {cast(g[0], from)}; });
  return out;
}

// ---------------- selection ----------------

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor c = cond.detach().to(a.dtype());
  Tensor out = zip3(c, a, b, fn::Select{}, "where");
  if (any_requires_grad({a, b}))
    record("where", {cond, a, b}, {out}, [c, sa = a.shape(), sb = b.shape()](const TensorList& g) -> TensorList {
      Tensor zero = zeros({}, Options(g[0].dtype(), g[0].device()));
      return {Tensor(), sum_to(zip3(c, g[0], zero, fn::Select{}, "where"), sa),
              sum_to(zip3(c, zero, g[0], fn::Select{}, "where"), sb)};
    });
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  EMBER_CHECK(broadcast_shapes(x.shape(), mask.shape(), "masked_fill") == x.shape(), "masked_fill: mask of shape ",
              mask.shape(), " does not broadcast to the input's shape ", x.shape());
  Tensor c = mask.detach().to(x.dtype());
  Tensor fill = full({}, value, Options(x.dtype(), x.device()));
  Tensor out = zip3(c, fill, x, fn::Select{}, "masked_fill");
  if (any_requires_grad({x}))
    record("masked_fill", {x}, {out}, [c](const TensorList& g) -> TensorList {
      Tensor zero = zeros({}, Options(g[0].dtype(), g[0].device()));
      return {zip3(c, zero, g[0], fn::Select{}, "masked_fill")};
    });
  return out;
}

// ---------------- operators ----------------

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
Tensor operator+(double s, const Tensor& a) { return add_scalar(a, s); }
Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
Tensor operator-(double s, const Tensor& a) { return add_scalar(neg(a), s); }
Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
Tensor operator/(const Tensor& a, double s) { return mul_scalar(a, 1.0 / s); }
Tensor operator/(double s, const Tensor& a) { return mul_scalar(pow_scalar(a, -1.0), s); }

}  // namespace ember
