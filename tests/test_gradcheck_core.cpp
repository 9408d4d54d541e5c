// float64 gradchecks of the elementwise, reduction, shape and linalg families. Shapes are
// non-square and exercise broadcasting; inputs of ops with kinks stay away from them.
#include <cmath>

#include "tests/gradcheck.h"

using namespace ember;
using namespace ember::test;

namespace {
// f(a, b) on a pair of shapes that broadcast both ways: (3,1,4) with (2,4).
void check_binary(const char* name, Tensor (*op)(const Tensor&, const Tensor&), Tensor a, Tensor b) {
  expect_gradcheck(name, [op](const TensorList& in) -> TensorList { return {op(in[0], in[1])}; }, {a, b});
}
void check_unary(const char* name, Tensor (*op)(const Tensor&), Tensor a) {
  expect_gradcheck(name, [op](const TensorList& in) -> TensorList { return {op(in[0])}; }, {a});
}
}  // namespace

GRADCHECK_CASE(add) { check_binary("add", add, rnd({3, 1, 4}, 1), rnd({2, 4}, 2)); }
GRADCHECK_CASE(sub) { check_binary("sub", sub, rnd({3, 1, 4}, 3), rnd({2, 4}, 4)); }
GRADCHECK_CASE(mul) { check_binary("mul", mul, rnd({3, 1, 4}, 5), rnd({2, 4}, 6)); }
GRADCHECK_CASE(div) { check_binary("div", div, rnd({3, 1, 4}, 7), rnd({2, 4}, 8, 0.5, 2.0)); }
GRADCHECK_CASE(pow) { check_binary("pow", pow, rnd({3, 1, 4}, 9, 0.5, 2.0), rnd({2, 4}, 10, -1.5, 1.5)); }
GRADCHECK_CASE(maximum) {
  // Values of a and b differ by ≥ 0.1 (a from [-1,-0.1]∪[0.1,1] vs b = a's neighbour pattern),
  // so no tie sits within ε.
  check_binary("maximum", maximum, rnd_away({3, 1, 4}, 11), rnd({2, 4}, 12, -0.05, 0.05));
}
GRADCHECK_CASE(minimum) { check_binary("minimum", minimum, rnd_away({3, 1, 4}, 13), rnd({2, 4}, 14, -0.05, 0.05)); }
GRADCHECK_CASE(add_scalar) {
  expect_gradcheck("add_scalar", [](const TensorList& in) -> TensorList { return {add_scalar(in[0], 2.5)}; },
                   {rnd({3, 5}, 15)});
}
GRADCHECK_CASE(mul_scalar) {
  expect_gradcheck("mul_scalar", [](const TensorList& in) -> TensorList { return {mul_scalar(in[0], -1.5)}; },
                   {rnd({3, 5}, 16)});
}
GRADCHECK_CASE(pow_scalar) {
  expect_gradcheck("pow_scalar", [](const TensorList& in) -> TensorList { return {pow_scalar(in[0], 2.7)}; },
                   {rnd({3, 5}, 17, 0.2, 2.0)});
}
GRADCHECK_CASE(neg) { check_unary("neg", neg, rnd({4, 3}, 18)); }
GRADCHECK_CASE(exp) { check_unary("exp", exp, rnd({4, 3}, 19)); }
GRADCHECK_CASE(log) { check_unary("log", log, rnd({4, 3}, 20, 0.2, 3.0)); }
GRADCHECK_CASE(sqrt) { check_unary("sqrt", sqrt, rnd({4, 3}, 21, 0.2, 3.0)); }
GRADCHECK_CASE(rsqrt) { check_unary("rsqrt", rsqrt, rnd({4, 3}, 22, 0.2, 3.0)); }
GRADCHECK_CASE(abs) { check_unary("abs", abs, rnd_away({4, 3}, 23)); }
GRADCHECK_CASE(tanh) { check_unary("tanh", tanh, rnd({4, 3}, 24, -2, 2)); }
GRADCHECK_CASE(sigmoid) { check_unary("sigmoid", sigmoid, rnd({4, 3}, 25, -3, 3)); }
GRADCHECK_CASE(relu) { check_unary("relu", relu, rnd_away({4, 3}, 26)); }
GRADCHECK_CASE(gelu) { check_unary("gelu", gelu, rnd({4, 3}, 27, -3, 3)); }
GRADCHECK_CASE(clamp) {
  // Bounds at ±0.5 while rnd_away's values are ≥ 0.1 from 0; keep them off ±0.5 too.
  Tensor x = rnd_away({4, 3}, 28);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i)
    if (std::fabs(std::fabs(p[i]) - 0.5) < 0.05) p[i] *= 1.3;
  expect_gradcheck("clamp", [](const TensorList& in) -> TensorList { return {clamp(in[0], -0.5, 0.5)}; }, {x});
}
GRADCHECK_CASE(cast) {
  // float64 → float32 → float64 loses precision beyond ε; check the float64 → float64 identity
  // path and the float32 round trip's gradient routing separately.
  expect_gradcheck("cast", [](const TensorList& in) -> TensorList { return {cast(mul_scalar(in[0], 2.0), DType::F64)}; },
                   {rnd({3, 2}, 29)});
  Tensor x = rnd({3, 2}, 30);
  Tensor y = cast(cast(x, DType::F32), DType::F64);
  sum(mul_scalar(y, 3.0)).backward();
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == DType::F64);
  for (double g : x.grad().to_vector<double>()) CHECK(g == 3.0);
}
GRADCHECK_CASE(where) {
  Tensor cond = rnd_int({3, 1}, 31, 0, 2);
  expect_gradcheck("where", [cond](const TensorList& in) -> TensorList { return {where(cond, in[0], in[1])}; },
                   {rnd({3, 4}, 32), rnd({4}, 33)});
}
GRADCHECK_CASE(masked_fill) {
  Tensor mask = rnd_int({1, 4}, 34, 0, 2);
  expect_gradcheck("masked_fill", [mask](const TensorList& in) -> TensorList { return {masked_fill(in[0], mask, -7.0)}; },
                   {rnd({3, 4}, 35)});
}

// ---- reductions ----
GRADCHECK_CASE(sum) {
  expect_gradcheck("sum all", [](const TensorList& in) -> TensorList { return {sum(in[0])}; }, {rnd({2, 3, 4}, 40)});
  expect_gradcheck("sum dims {0,2} keepdim", [](const TensorList& in) -> TensorList { return {sum(in[0], {0, 2}, true)}; },
                   {rnd({2, 3, 4}, 41)});
  expect_gradcheck("sum dim -1", [](const TensorList& in) -> TensorList { return {sum(in[0], {-1})}; }, {rnd({2, 3, 4}, 42)});
}
GRADCHECK_CASE(mean) {
  expect_gradcheck("mean dims {1}", [](const TensorList& in) -> TensorList { return {mean(in[0], {1})}; }, {rnd({2, 3, 4}, 43)});
  expect_gradcheck("mean all", [](const TensorList& in) -> TensorList { return {mean(in[0])}; }, {rnd({2, 3, 4}, 44)});
}
GRADCHECK_CASE(max) {
  // Distinct values (a shuffled ramp) so the argmax does not move within ε.
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[i] = 0.1 * ((i * 7) % 24);
  Tensor x = from_vector(v, {2, 3, 4});
  x.requires_grad_(true);
  expect_gradcheck("max dim 1", [](const TensorList& in) -> TensorList { return {max(in[0], 1).first}; }, {x});
  x.zero_grad();
  expect_gradcheck("max dim -1 keepdim", [](const TensorList& in) -> TensorList { return {max(in[0], -1, true).first}; }, {x});
}
GRADCHECK_CASE(var) {
  expect_gradcheck("var dims {0,2}", [](const TensorList& in) -> TensorList { return {var(in[0], {0, 2})}; }, {rnd({2, 3, 4}, 45)});
  expect_gradcheck("var biased all", [](const TensorList& in) -> TensorList { return {var(in[0], {}, 0)}; }, {rnd({2, 3, 4}, 46)});
}
GRADCHECK_CASE(sum_to) {
  expect_gradcheck("sum_to", [](const TensorList& in) -> TensorList { return {sum_to(in[0], {3, 1})}; }, {rnd({2, 3, 4}, 47)});
}

// ---- linear algebra ----
GRADCHECK_CASE(matmul) {
  expect_gradcheck("matmul 2d", [](const TensorList& in) -> TensorList { return {matmul(in[0], in[1])}; },
                   {rnd({3, 4}, 50), rnd({4, 5}, 51)});
  expect_gradcheck("matmul batched broadcast", [](const TensorList& in) -> TensorList { return {matmul(in[0], in[1])}; },
                   {rnd({2, 1, 3, 4}, 52), rnd({3, 4, 2}, 53)});
  expect_gradcheck("matmul folded batch", [](const TensorList& in) -> TensorList { return {matmul(in[0], in[1])}; },
                   {rnd({2, 3, 4}, 54), rnd({4, 5}, 55)});
  expect_gradcheck("matmul vector-matrix", [](const TensorList& in) -> TensorList { return {matmul(in[0], in[1])}; },
                   {rnd({4}, 56), rnd({4, 3}, 57)});
  expect_gradcheck("matmul matrix-vector", [](const TensorList& in) -> TensorList { return {matmul(in[0], in[1])}; },
                   {rnd({3, 4}, 58), rnd({4}, 59)});
  expect_gradcheck("matmul transposed operand", [](const TensorList& in) -> TensorList {
    return {matmul(in[0].transpose(0, 1), in[1])};
  }, {rnd({4, 3}, 60), rnd({4, 5}, 61)});
}
GRADCHECK_CASE(linear) {
  expect_gradcheck("linear with bias", [](const TensorList& in) -> TensorList { return {linear(in[0], in[1], in[2])}; },
                   {rnd({2, 3, 4}, 62), rnd({5, 4}, 63), rnd({5}, 64)});
  expect_gradcheck("linear no bias", [](const TensorList& in) -> TensorList { return {linear(in[0], in[1])}; },
                   {rnd({3, 4}, 65), rnd({5, 4}, 66)});
}

// ---- shape ----
GRADCHECK_CASE(reshape) {
  expect_gradcheck("reshape", [](const TensorList& in) -> TensorList { return {mul(in[0].reshape({4, -1}), in[0].reshape({4, 6}))}; },
                   {rnd({2, 3, 4}, 70)});
  expect_gradcheck("reshape of a transposed (copying)", [](const TensorList& in) -> TensorList {
    return {in[0].transpose(0, 2).reshape({-1})};
  }, {rnd({2, 3, 4}, 71)});
}
GRADCHECK_CASE(transpose) {
  expect_gradcheck("transpose", [](const TensorList& in) -> TensorList { return {in[0].transpose(0, 2)}; }, {rnd({2, 3, 4}, 72)});
}
GRADCHECK_CASE(permute) {
  expect_gradcheck("permute", [](const TensorList& in) -> TensorList { return {in[0].permute({1, 2, 0})}; }, {rnd({2, 3, 4}, 73)});
}
GRADCHECK_CASE(narrow) {
  expect_gradcheck("narrow", [](const TensorList& in) -> TensorList { return {in[0].narrow(1, 1, 2)}; }, {rnd({2, 4, 3}, 74)});
}
GRADCHECK_CASE(expand) {
  expect_gradcheck("expand", [](const TensorList& in) -> TensorList { return {in[0].expand({2, 3, 4})}; }, {rnd({3, 1}, 75)});
}
GRADCHECK_CASE(contiguous) {
  expect_gradcheck("contiguous", [](const TensorList& in) -> TensorList { return {in[0].transpose(0, 1).contiguous()}; },
                   {rnd({3, 4}, 76)});
}
GRADCHECK_CASE(concat) {
  expect_gradcheck("concat dim 1", [](const TensorList& in) -> TensorList { return {concat({in[0], in[1], in[0]}, 1)}; },
                   {rnd({2, 3, 2}, 77), rnd({2, 1, 2}, 78)});
}
GRADCHECK_CASE(split) {
  expect_gradcheck("split sizes", [](const TensorList& in) -> TensorList { return split(in[0], Shape{1, 3, 1}, 1); },
                   {rnd({2, 5, 3}, 79)});
  expect_gradcheck("split chunks", [](const TensorList& in) -> TensorList {
    TensorList parts = split(in[0], 2, 0);
    return {parts[0], mul_scalar(parts[2], 3.0)};  // an unused piece gets a zero gradient
  }, {rnd({5, 3}, 80)});
}
