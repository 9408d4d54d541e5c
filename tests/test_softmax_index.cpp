// tests/test_softmax_index.cpp — softmax, log_softmax, cross_entropy, dropout (engine/ops/softmax.cpp)
// and index_select, embedding, gather (engine/ops/index.cpp): float64 gradchecks, exact values on
// small hand-computed cases, numerical stability, dropout's mask statistics, and the errors a
// bad index or target gives.
//
// Tolerances: float64 values within 1e-12 relative of the reference, float32 within 1e-6
// relative (an absolute 1e-12 / 1e-6 where the reference is 0). Values marked "PyTorch" were
// printed by torch 2.x in float64 (Debian's /usr/bin/python3) and pasted here.
#include <cmath>
#include <limits>
#include <string>

#include "kernels/cpu/vec_math.h"
#include "tests/gradcheck.h"

using namespace ember;
using namespace ember::test;

namespace {

constexpr double kRel64 = 1e-12;
constexpr double kRel32 = 1e-6;

// |actual − expected| ≤ rel·|expected| (≤ rel when expected is 0), element by element.
void check_values(const Tensor& t, const std::vector<double>& expected, double rel) {
  std::vector<double> v = t.to(DType::F64).to_vector<double>();
  REQUIRE(v.size() == expected.size());
  for (size_t i = 0; i < v.size(); ++i) {
    INFO("element ", i, ": got ", v[i], ", expected ", expected[i]);
    CHECK(std::fabs(v[i] - expected[i]) <= rel * (expected[i] == 0 ? 1.0 : std::fabs(expected[i])));
  }
}

Tensor f64(const std::vector<double>& v, const Shape& s) { return from_vector<double>(v, s); }
Tensor i64(const std::vector<int64_t>& v, const Shape& s) { return from_vector<int64_t>(v, s); }
Tensor i32(const std::vector<int32_t>& v, const Shape& s) { return from_vector<int32_t>(v, s); }

// Σ out ⊙ w with a fixed w, backpropagated: what an op's backward sends to its input.
Tensor grad_of(const Tensor& out, const Tensor& leaf, const Tensor& w) {
  sum(mul(out, w)).backward();
  return leaf.grad();
}

}  // namespace

// ======================= gradchecks (float64, tolerance in tests/gradcheck.h) =======================

GRADCHECK_CASE(softmax) {
  expect_gradcheck("softmax dim -1", [](const TensorList& in) -> TensorList { return {softmax(in[0], -1)}; },
                   {rnd({3, 4, 5}, 101, -2, 2)});
  expect_gradcheck("softmax middle dim 1", [](const TensorList& in) -> TensorList { return {softmax(in[0], 1)}; },
                   {rnd({3, 4, 5}, 102, -2, 2)});
  expect_gradcheck("softmax dim 0", [](const TensorList& in) -> TensorList { return {softmax(in[0], 0)}; },
                   {rnd({3, 4, 5}, 103, -2, 2)});
  expect_gradcheck("softmax of a transposed view", [](const TensorList& in) -> TensorList {
    return {softmax(in[0].transpose(0, 2), 1)};
  }, {rnd({2, 3, 4}, 104, -2, 2)});
}

GRADCHECK_CASE(log_softmax) {
  expect_gradcheck("log_softmax dim -1", [](const TensorList& in) -> TensorList { return {log_softmax(in[0], -1)}; },
                   {rnd({3, 4, 5}, 111, -2, 2)});
  expect_gradcheck("log_softmax middle dim 1", [](const TensorList& in) -> TensorList { return {log_softmax(in[0], 1)}; },
                   {rnd({3, 4, 5}, 112, -2, 2)});
  expect_gradcheck("log_softmax dim 0", [](const TensorList& in) -> TensorList { return {log_softmax(in[0], 0)}; },
                   {rnd({3, 4, 5}, 113, -2, 2)});
}

GRADCHECK_CASE(cross_entropy) {
  Tensor t = i64({1, -100, 3, 0, 3}, {5});  // row 1 ignored, class 3 twice
  expect_gradcheck("cross_entropy with an ignored row", [t](const TensorList& in) -> TensorList {
    return {cross_entropy(in[0], t)};
  }, {rnd({5, 4}, 121, -3, 3)});
  Tensor t32 = i32({2, 0, 2, 1}, {4});  // int32 targets, ignore_index = 2 (a valid class)
  expect_gradcheck("cross_entropy int32, ignore_index 2", [t32](const TensorList& in) -> TensorList {
    return {cross_entropy(in[0], t32, 2)};
  }, {rnd({4, 3}, 122, -3, 3)});
  expect_gradcheck("cross_entropy scaled (upstream grad != 1)", [t](const TensorList& in) -> TensorList {
    return {mul_scalar(cross_entropy(in[0], t), -2.5)};
  }, {rnd({5, 4}, 123, -3, 3)});
}

GRADCHECK_CASE(dropout) {
  // A fresh Generator(42) per evaluation: every evaluation draws the same mask.
  expect_gradcheck("dropout p=0.4 training", [](const TensorList& in) -> TensorList {
    Generator g(42);
    return {dropout(in[0], 0.4, true, &g)};
  }, {rnd({3, 7}, 131)});
  expect_gradcheck("dropout eval (identity)", [](const TensorList& in) -> TensorList {
    return {mul_scalar(dropout(in[0], 0.4, false), 1.0)};
  }, {rnd({3, 7}, 132)});
}

GRADCHECK_CASE(index_select) {
  Tensor idx = i64({4, 0, 4, 2}, {4});  // 4 repeats: its gradients add
  expect_gradcheck("index_select dim 1, repeated", [idx](const TensorList& in) -> TensorList {
    return {index_select(in[0], 1, idx)};
  }, {rnd({3, 5, 2}, 141)});
  Tensor idx32 = i32({1, 1, 0}, {3});
  expect_gradcheck("index_select dim 0, int32", [idx32](const TensorList& in) -> TensorList {
    return {index_select(in[0], 0, idx32)};
  }, {rnd({2, 5, 3}, 142)});
  expect_gradcheck("index_select dim -1 of a transposed view", [idx](const TensorList& in) -> TensorList {
    return {index_select(in[0].transpose(0, 1), -1, idx)};
  }, {rnd({5, 3}, 143)});
}

GRADCHECK_CASE(embedding) {
  Tensor ids = i64({1, 3, 1, 4, 0, 3}, {2, 3});  // id 1 and id 3 repeat
  expect_gradcheck("embedding repeated ids", [ids](const TensorList& in) -> TensorList { return {embedding(in[0], ids)}; },
                   {rnd({5, 3}, 151)});
  // With padding_idx 3 the padding row gets no gradient although it is read, so the objective
  // masks out the positions that read it: the gradient check then covers every other row.
  Tensor keep = f64({1, 0, 1, 1, 1, 0}, {2, 3, 1});
  expect_gradcheck("embedding padding_idx 3 (padding reads masked)", [ids, keep](const TensorList& in) -> TensorList {
    return {mul(embedding(in[0], ids, 3), keep)};
  }, {rnd({5, 3}, 152)});

  // The padding row's gradient is exactly 0 even where its reads reach the loss.
  Tensor w = rnd({5, 3}, 153);
  Tensor out = embedding(w, ids, 3);
  Tensor gw = grad_of(out, w, ones({2, 3, 3}, DType::F64));
  std::vector<double> g = gw.to_vector<double>();
  const double expected[5] = {1, 2, 0, 0, 1};  // reads per row; row 3 (padding) → 0
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 3; ++c) CHECK(g[r * 3 + c] == expected[r]);
}

GRADCHECK_CASE(gather) {
  Tensor idx = rnd_int({2, 6, 3}, 161, 0, 4);  // x (3,4,5) along dim 1: 6 picks from 4, so repeats
  expect_gradcheck("gather dim 1", [idx](const TensorList& in) -> TensorList { return {gather(in[0], 1, idx)}; },
                   {rnd({3, 4, 5}, 162)});
  Tensor idx0 = rnd_int({4, 2}, 163, 0, 3);
  expect_gradcheck("gather dim 0 of a transposed view", [idx0](const TensorList& in) -> TensorList {
    return {gather(in[0].transpose(0, 1), 0, idx0)};
  }, {rnd({3, 3}, 164)});
  Tensor idx_last = i32({2, 2, 0, 1, 1, 1}, {2, 3});
  expect_gradcheck("gather dim -1 int32", [idx_last](const TensorList& in) -> TensorList {
    return {gather(in[0], -1, idx_last)};
  }, {rnd({3, 4}, 165)});
}

// ======================= softmax / log_softmax values =======================

TEST_CASE("softmax and log_softmax of [1, 2, 3]") {
  // softmax = e^x / (e + e² + e³); log_softmax = x − log(e + e² + e³) (PyTorch).
  const std::vector<double> sm = {0.09003057317038045, 0.2447284710547976, 0.6652409557748218};
  const std::vector<double> lsm = {-2.4076059644443806, -1.4076059644443804, -0.4076059644443804};
  Tensor x = f64({1, 2, 3}, {3});
  check_values(softmax(x, 0), sm, kRel64);
  check_values(log_softmax(x, -1), lsm, kRel64);
  Tensor x32 = x.to(DType::F32);
  CHECK(softmax(x32, 0).dtype() == DType::F32);
  check_values(softmax(x32, 0), sm, kRel32);
  check_values(log_softmax(x32, 0), lsm, kRel32);
}

TEST_CASE("softmax along a middle dim matches PyTorch and sums to 1") {
  // x = arange(24).reshape(2,3,4)·0.25 − 2; softmax(x, 1)[1, :, 2] and log_softmax(x, 1)[0, :, 3] (PyTorch).
  Tensor x = add_scalar(mul_scalar(arange(0, 24, 1, DType::F64), 0.25), -2.0).reshape({2, 3, 4});
  Tensor y = softmax(x, 1);
  check_values(y.narrow(0, 1, 1).narrow(2, 2, 1).reshape({3}),
               {0.09003057317038046, 0.24472847105479764, 0.6652409557748218}, kRel64);
  check_values(log_softmax(x, 1).narrow(0, 0, 1).narrow(2, 3, 1).reshape({3}),
               {-2.4076059644443806, -1.4076059644443804, -0.4076059644443804}, kRel64);
  check_values(sum(y, {1}), std::vector<double>(8, 1.0), kRel64);
  // A strided view gives the same numbers as its contiguous copy.
  Tensor r = rnd({4, 3, 5}, 170, -3, 3, false);
  Tensor a = softmax(r.transpose(0, 2), 0), b = softmax(r.transpose(0, 2).contiguous(), 0);
  check_values(a, b.to_vector<double>(), kRel64);
}

TEST_CASE("softmax and log_softmax stay finite for large logits") {
  Tensor x = f64({1000, 0, -1000}, {3});
  // exp(-1000) underflows to 0 in double; the exact values are 1, e^-1000, e^-2000.
  check_values(softmax(x, 0), {1.0, 0.0, 0.0}, kRel64);
  check_values(log_softmax(x, 0), {0.0, -1000.0, -2000.0}, kRel64);
  check_values(softmax(x.to(DType::F32), 0), {1.0, 0.0, 0.0}, kRel32);
}

TEST_CASE("softmax errors name the dim and the dtype") {
  CHECK_THROWS_WITH_AS(softmax(zeros({2, 3}), 2), doctest::Contains("softmax: dim 2 out of range for a 2-D tensor"),
                       Error);
  CHECK_THROWS_WITH_AS(log_softmax(zeros({2, 3}, DType::I64), 1), doctest::Contains("expected a float32 or float64"),
                       Error);
}

// ======================= cross_entropy =======================

TEST_CASE("cross_entropy of a hand-computed batch") {
  // mean(−log 0.66524096, −log 1/3) = (0.40760596 + 1.09861229)/2; PyTorch: 0.7531091265562451.
  Tensor logits = f64({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor loss = cross_entropy(logits, i64({2, 0}, {2}));
  CHECK(loss.dim() == 0);
  check_values(loss, {0.7531091265562451}, kRel64);
  check_values(loss, {(0.4076059644443804 + 1.0986122886681098) / 2}, kRel64);  // −log softmax[2], log 3
  check_values(cross_entropy(logits.to(DType::F32), i32({2, 0}, {2})), {0.7531091265562451}, kRel32);
}

TEST_CASE("cross_entropy with an ignored row matches PyTorch, loss and gradient") {
  Tensor logits = f64({0.5, -1.0, 2.0, 0.0, 3.0, 0.1, -0.2, 1.5, -2.0, 0.0, 0.3, 0.7}, {3, 4});
  logits.requires_grad_(true);
  Tensor loss = cross_entropy(logits, i64({3, -100, 1}, {3}));
  check_values(loss, {1.923096453473676}, kRel64);  // PyTorch
  loss.backward();
  check_values(logits.grad(),
               {0.07922235475748987, 0.017676896704374435, 0.35504996144308715, -0.4519492129049514,  // PyTorch
                0.0, 0.0, 0.0, 0.0,  // the ignored row: exactly 0
                0.015040773908268919, -0.3888628778204685, 0.15001942322269093, 0.22380268068950865},
               kRel64);
}

TEST_CASE("cross_entropy is stable for large logits") {
  Tensor logits = f64({1000, 0}, {1, 2});
  Tensor l0 = cross_entropy(logits, i64({0}, {1}));
  Tensor l1 = cross_entropy(logits, i64({1}, {1}));
  CHECK(std::isfinite(l0.item()));
  CHECK(std::fabs(l0.item()) <= 1e-12);  // log(1 + e^-1000) underflows to 0
  check_values(l1, {1000.0}, kRel64);
  Tensor f = logits.to(DType::F32);
  f.requires_grad_(true);
  Tensor lf = cross_entropy(f, i64({1}, {1}));
  check_values(lf, {1000.0}, kRel32);
  lf.backward();
  check_values(f.grad(), {1.0, -1.0}, kRel32);  // softmax = (1, 0), minus the one-hot of class 1
}

TEST_CASE("cross_entropy with every target ignored is NaN with a zero gradient, as PyTorch") {
  Tensor logits = zeros({2, 3}, DType::F64);
  logits.requires_grad_(true);
  Tensor loss = cross_entropy(logits, i64({-100, -100}, {2}));
  CHECK(std::isnan(loss.item()));
  loss.backward();
  check_values(logits.grad(), std::vector<double>(6, 0.0), kRel64);
}

TEST_CASE("cross_entropy rejects bad targets and shapes with the whole story") {
  Tensor logits = zeros({3, 4}, DType::F64);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, i64({0, 7, 1}, {3})),
                       doctest::Contains("target 7 at row 1 is out of range for 4 classes"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, i64({0, 1, -1}, {3})), doctest::Contains("target -1 at row 2"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 3, 4}), i64({0, 1}, {2})),
                       doctest::Contains("logits must be 2-D (N, C), got shape [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, i64({0, 1}, {2})),
                       doctest::Contains("targets must be 1-D (N) = (3) class indices for logits of shape [3, 4], got shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, zeros({3}, DType::F64)),
                       doctest::Contains("targets must be int32 or int64 class indices, got float64"), Error);
}

// ======================= dropout =======================

TEST_CASE("dropout: the same seed gives the same mask, another seed another") {
  Tensor x = ones({1000});
  Generator g1(7), g2(7), g3(8);
  std::vector<float> a = dropout(x, 0.5, true, &g1).to_vector<float>();
  std::vector<float> b = dropout(x, 0.5, true, &g2).to_vector<float>();
  std::vector<float> c = dropout(x, 0.5, true, &g3).to_vector<float>();
  std::vector<float> a2 = dropout(x, 0.5, true, &g1).to_vector<float>();  // the stream moved on
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != a2);
  CHECK(g1.offset() == 500u);  // ceil(1000 / 4) Philox blocks per call
}

TEST_CASE("dropout p=0.3 over 100k elements: zero fraction and survivor values") {
  const double p = 0.3;
  Tensor x = rnd({100000}, 180, 1.0, 2.0, false).to(DType::F32);
  Generator g(2024);
  Tensor y = dropout(x, p, true, &g);
  std::vector<float> xv = x.to_vector<float>(), yv = y.to_vector<float>();
  int64_t zeros_seen = 0, bad = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0.0f) {
      ++zeros_seen;
      continue;
    }
    const double want = static_cast<double>(xv[i]) / (1.0 - p);
    if (std::fabs(yv[i] - want) > kRel32 * want) ++bad;
  }
  const double frac = static_cast<double>(zeros_seen) / 100000.0;
  INFO("zero fraction ", frac);
  CHECK(std::fabs(frac - p) <= 0.01);
  CHECK(bad == 0);
}

TEST_CASE("dropout: eval and p=0 return the input itself, p=1 zeros, backward uses the mask") {
  Tensor x = rnd({4, 5}, 181);
  CHECK(dropout(x, 0.5, false).impl() == x.impl());
  CHECK(dropout(x, 0.0, true).impl() == x.impl());
  Generator g0(1);
  check_values(dropout(x, 1.0, true, &g0), std::vector<double>(20, 0.0), kRel64);

  Generator g(5);
  Tensor y = dropout(x, 0.25, true, &g);
  y.backward(ones({4, 5}, DType::F64));
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>(), gv = x.grad().to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) {
    const double mask = yv[i] == 0 ? 0.0 : 1.0 / 0.75;
    CHECK(gv[i] == mask);
    if (mask != 0) CHECK(std::fabs(yv[i] - xv[i] / 0.75) <= kRel64 * std::fabs(xv[i] / 0.75));
  }
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true), doctest::Contains("dropout: p must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1, false), doctest::Contains("got -0.1"), Error);
}

// ======================= index_select / embedding / gather =======================

TEST_CASE("index_select values along dims 0 and 1") {
  Tensor x = arange(0, 12, 1, DType::F64).reshape({3, 4});  // [[0..3],[4..7],[8..11]]
  check_values(index_select(x, 1, i64({3, 0, 3}, {3})), {3, 0, 3, 7, 4, 7, 11, 8, 11}, kRel64);
  check_values(index_select(x, 0, i32({2, 2}, {2})), {8, 9, 10, 11, 8, 9, 10, 11}, kRel64);
  CHECK(index_select(x, 1, i64({3, 0, 3}, {3})).shape() == Shape{3, 3});
  CHECK(index_select(x, 0, i64({}, {0})).shape() == Shape{0, 4});
  // The backward of a repeated index adds: column 3 is read twice.
  Tensor xl = zeros({3, 4}, DType::F64);
  xl.requires_grad_(true);
  Tensor gx = grad_of(index_select(xl, 1, i64({3, 0, 3}, {3})), xl, ones({3, 3}, DType::F64));
  check_values(gx, {1, 0, 0, 2, 1, 0, 0, 2, 1, 0, 0, 2}, kRel64);
}

TEST_CASE("index_select errors name the index, its position and the dim size") {
  Tensor x = zeros({3, 4});
  CHECK_THROWS_WITH_AS(index_select(x, 1, i64({0, 4}, {2})),
                       doctest::Contains("index_select: index 4 at position [1] is out of range for dim 1 of the input "
                                         "[3, 4] of size 4"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, i64({-1}, {1})), doctest::Contains("index -1 at position [0]"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, i64({0, 1}, {1, 2})), doctest::Contains("index must be 1-D, got shape [1, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, zeros({2})), doctest::Contains("int32 or int64 tensor, got float32"), Error);
}

TEST_CASE("embedding values, shapes and padding") {
  Tensor w = arange(0, 12, 1, DType::F64).reshape({4, 3});  // row r = (3r, 3r+1, 3r+2)
  Tensor out = embedding(w, i32({2, 0, 3, 2}, {2, 2}));
  CHECK(out.shape() == Shape{2, 2, 3});
  check_values(out, {6, 7, 8, 0, 1, 2, 9, 10, 11, 6, 7, 8}, kRel64);
  CHECK(embedding(w, i64({1}, {})).shape() == Shape{3});  // a 0-d id gives one row
  check_values(embedding(w.to(DType::F32), i64({1}, {1}), 1), {3, 4, 5}, kRel32);  // padding reads as it is
}

TEST_CASE("embedding errors on bad ids and a bad padding_idx") {
  Tensor w = zeros({4, 3});
  CHECK_THROWS_WITH_AS(embedding(w, i64({0, 1, 4, 2}, {2, 2})),
                       doctest::Contains("embedding: index 4 at position [1, 0] is out of range for the rows of weight "
                                         "[4, 3] of size 4 (expected 0..3)"),
                       Error);
  CHECK_THROWS_WITH_AS(embedding(w, i32({-2}, {1})), doctest::Contains("index -2 at position [0]"), Error);
  CHECK_THROWS_WITH_AS(embedding(w, i64({0}, {1}), 4), doctest::Contains("padding_idx 4 is out of range for 4 embeddings"),
                       Error);
  CHECK_THROWS_WITH_AS(embedding(zeros({4}), i64({0}, {1})),
                       doctest::Contains("weight must be 2-D (num_embeddings, embedding_dim), got shape [4]"), Error);
}

TEST_CASE("gather values like torch.gather, and its errors") {
  Tensor x = f64({1, 2, 3, 4}, {2, 2});
  // torch.gather(x, 1, [[0,0],[1,0]]) = [[1,1],[4,3]]; torch.gather(x, 0, [[1,0]]) = [[3,2]].
  check_values(gather(x, 1, i64({0, 0, 1, 0}, {2, 2})), {1, 1, 4, 3}, kRel64);
  check_values(gather(x, 0, i64({1, 0}, {1, 2})), {3, 2}, kRel64);
  check_values(gather(x, 1, i32({1, 1, 1}, {1, 3})), {2, 2, 2}, kRel64);  // index may be longer along dim
  CHECK_THROWS_WITH_AS(gather(x, 1, i64({0, 2}, {1, 2})),
                       doctest::Contains("gather: index 2 at position [0, 1] is out of range for dim 1"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, i64({0, 0, 0}, {3, 1})),
                       doctest::Contains("index shape [3, 1] exceeds input shape [2, 2] in dim 0"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, i64({0, 0}, {2})), doctest::Contains("index must have the input's rank 2"), Error);
}

TEST_CASE("exp_fast: within 2 ulp of exp over the float range, 0 on underflow") {
  // Tolerance: 2 ulp of float (2 · 2⁻²³ relative), against exp computed in double.
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    float x = -87.0f + 175.0f * static_cast<float>(i) / 200000.0f;
    double exact = std::exp(static_cast<double>(x));
    double rel = std::fabs(static_cast<double>(ember::cpu::exp_fast(x)) - exact) / exact;
    worst = std::max(worst, rel);
  }
  CHECK(worst <= 2.0 * 0x1.0p-23);
  CHECK(ember::cpu::exp_fast(0.0f) == 1.0f);
  CHECK(ember::cpu::exp_fast(-100.0f) == 0.0f);
  CHECK(ember::cpu::exp_fast(-std::numeric_limits<float>::infinity()) == 0.0f);
}
