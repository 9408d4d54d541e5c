// tests/test_fused.cpp — the fused sequence ops (engine/ops/fused.cpp): lstm_cell and
// scaled_dot_product_attention.
//
// Three kinds of evidence, each with its tolerance stated where it is used:
//  - float64 gradchecks (tests/gradcheck.h) of every case the ops branch on: which outputs are
//    used, integer / float / no mask, Tq ≠ Tk and D ≠ Dv, non-contiguous inputs, dropout, a
//    fully masked row, and an LSTM unrolled over 3 steps from linear + lstm_cell;
//  - exact values against PyTorch from tests/fixtures/fused.json (scripts/fixtures/fused.py);
//  - properties with no reference needed: masking equals dropping the keys, the dropout mask
//    is reproducible and drops about p of the probabilities, float32 agrees with float64.
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>

#include "tests/fixtures.h"
#include "tests/test_util.h"
#include "tests/gradcheck.h"

using namespace ember;
using namespace ember::test;
using nlohmann::json;

namespace {

// Against PyTorch in float64: |ours − torch| ≤ kFixtureRtol·|torch| + kFixtureAtol. Both sides
// compute the same sums in a different order, so they differ by a few ulps of the terms; the
// absolute floor covers gradients that cancel to near zero.
constexpr double kFixtureRtol = 1e-10;
constexpr double kFixtureAtol = 1e-13;
// float32 against float64 on values of order 1: |f32 − f64| ≤ kF32Tol·max(1, |f64|).
constexpr double kF32Tol = 1e-5;

const json& fixtures() { return test::fixture("fused.json"); }

Tensor load(const json& j, bool requires_grad = false) { return test::fixture_tensor(j, requires_grad); }

Tensor load_int(const json& j) { return test::fixture_int_tensor(j); }

void expect_matches_torch(const Tensor& got, const json& want, const std::string& what) {
  test::expect_close(got, test::fixture_tensor(want), kFixtureRtol, kFixtureAtol, what);
}

// Backward of Σ_i sum(ys[i] ⊙ seeds[i]): every output gets its own upstream gradient.
void run_backward_all(const TensorList& ys, const TensorList& seeds) {
  Tensor loss = sum(mul(ys[0], seeds[0]));
  for (size_t i = 1; i < ys.size(); ++i) loss = add(loss, sum(mul(ys[i], seeds[i])));
  loss.backward();
}

void expect_close_f32(const Tensor& f32, const Tensor& f64, const std::string& what) {
  REQUIRE(f32.defined());
  REQUIRE(f64.defined());
  CHECK(f32.dtype() == DType::F32);
  std::vector<double> a = f32.to_vector<double>(), b = f64.to_vector<double>();
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(b[i])));
  INFO(what, ": max scaled |f32 - f64| = ", worst);
  CHECK(worst <= kF32Tol);
}

using test::expect_error;

Tensor sdpa(const TensorList& in, const Tensor& mask = Tensor(), double scale = 0.0) {
  return scaled_dot_product_attention(in[0], in[1], in[2], mask, 0.0, false, scale);
}

}  // namespace

// ================================ lstm_cell ================================

GRADCHECK_CASE(lstm_cell) {
  // Pre-activations in [-2, 2] keep σ and tanh away from saturation, where the check is weak.
  expect_gradcheck("lstm_cell (h', c')", [](const TensorList& in) -> TensorList {
    auto [h, c] = lstm_cell(in[0], in[1]);
    return {h, c};
  }, {rnd({3, 8}, 101, -2, 2), rnd({3, 2}, 102)});
  expect_gradcheck("lstm_cell only h' used", [](const TensorList& in) -> TensorList {
    return {lstm_cell(in[0], in[1]).first};
  }, {rnd({2, 12}, 103, -2, 2), rnd({2, 3}, 104)});
  expect_gradcheck("lstm_cell only c' used", [](const TensorList& in) -> TensorList {
    return {lstm_cell(in[0], in[1]).second};
  }, {rnd({2, 12}, 105, -2, 2), rnd({2, 3}, 106)});
  expect_gradcheck("lstm_cell transposed gates", [](const TensorList& in) -> TensorList {
    auto [h, c] = lstm_cell(in[0].transpose(0, 1), in[1]);
    return {h, c};
  }, {rnd({8, 3}, 107, -2, 2), rnd({3, 2}, 108)});
}

TEST_CASE("gradcheck lstm over 3 steps (linear + lstm_cell)") {
  // x (T=3, B=2, I=4) through one LSTM layer with H=3: gates_t = x_t·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh.
  // Every step's h and the last c are outputs, so gradients flow through both recurrences.
  auto unroll = [](const TensorList& in) -> TensorList {
    const Tensor &x = in[0], &w_ih = in[1], &w_hh = in[2], &b_ih = in[3], &b_hh = in[4];
    Tensor h = in[5], c = in[6];
    TensorList outs;
    for (int64_t t = 0; t < 3; ++t) {
      Tensor gates = add(linear(x.narrow(0, t, 1).reshape({2, 4}), w_ih, b_ih), linear(h, w_hh, b_hh));
      std::tie(h, c) = lstm_cell(gates, c);
      outs.push_back(h);
    }
    outs.push_back(c);
    return outs;
  };
  expect_gradcheck("lstm 3 steps", unroll,
                   {rnd({3, 2, 4}, 110), rnd({12, 4}, 111, -0.7, 0.7), rnd({12, 3}, 112, -0.7, 0.7),
                    rnd({12}, 113, -0.5, 0.5), rnd({12}, 114, -0.5, 0.5), rnd({2, 3}, 115), rnd({2, 3}, 116)});
}

TEST_CASE("lstm_cell rejects mismatched shapes with both shapes in the message") {
  Tensor c = zeros({2, 3}, DType::F64);
  expect_error([&] { lstm_cell(zeros({2, 11}, DType::F64), c); },
               "gates must be (B, 4H) = [2, 12] for c of shape [2, 3], got [2, 11]");
  expect_error([&] { lstm_cell(zeros({3, 12}, DType::F64), c); }, "got [3, 12]");
  expect_error([&] { lstm_cell(zeros({2, 12}, DType::F64), zeros({2, 3, 1}, DType::F64)); }, "c must be 2-D (B, H)");
  expect_error([&] { lstm_cell(zeros({2, 12}, DType::F32), c); }, "gates are float32 but c is float64");
}

TEST_CASE("lstm_cell matches torch.nn.LSTMCell") {
  for (const json& k : fixtures().at("lstm_cell")) {
    std::string name = k.at("name");
    Tensor gates = load(k.at("gates"), true), c = load(k.at("c"), true);
    auto [h, cn] = lstm_cell(gates, c);
    expect_matches_torch(h, k.at("h_new"), name + " h'");
    expect_matches_torch(cn, k.at("c_new"), name + " c'");
    add(sum(mul(h, load(k.at("dh")))), sum(mul(cn, load(k.at("dc_new"))))).backward();
    expect_matches_torch(gates.grad(), k.at("dgates"), name + " dgates");
    expect_matches_torch(c.grad(), k.at("dc"), name + " dc");
  }
}

namespace {
// torch.nn.LSTM's one-layer fixture through `layer` (x, w_ih, w_hh, b_ih, b_hh, h0, c0 → y, h_T, c_T):
// outputs, then every gradient of Σ y⊙dy + h_T⊙dh_T + c_T⊙dc_T.
void expect_lstm_seq_matches_torch(const std::function<TensorList(const TensorList&)>& layer) {
  const json& k = fixtures().at("lstm_seq");
  TensorList in;
  for (const char* key : {"x", "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "h0", "c0"})
    in.push_back(load(k.at(key), true));
  TensorList out = layer(in);
  expect_matches_torch(out[0], k.at("y"), "y");
  expect_matches_torch(out[1], k.at("hT"), "h_T");
  expect_matches_torch(out[2], k.at("cT"), "c_T");
  run_backward_all(out, {load(k.at("dy")), load(k.at("dhT")), load(k.at("dcT"))});
  const char* grads[] = {"grad_x", "grad_weight_ih_l0", "grad_weight_hh_l0", "grad_bias_ih_l0", "grad_bias_hh_l0",
                         "grad_h0", "grad_c0"};
  for (size_t i = 0; i < in.size(); ++i) expect_matches_torch(in[i].grad(), k.at(grads[i]), grads[i]);
}
}  // namespace

TEST_CASE("linear + lstm_cell over 3 steps matches torch.nn.LSTM") {
  expect_lstm_seq_matches_torch([](const TensorList& in) -> TensorList {
    const Tensor &x = in[0], &w_ih = in[1], &w_hh = in[2], &b_ih = in[3], &b_hh = in[4];
    Tensor h = in[5], c = in[6];
    const int64_t T = x.size(0), B = x.size(1), I = x.size(2), H = h.size(1);
    TensorList ys;
    for (int64_t t = 0; t < T; ++t) {
      Tensor gates = add(linear(x.narrow(0, t, 1).reshape({B, I}), w_ih, b_ih), linear(h, w_hh, b_hh));
      std::tie(h, c) = lstm_cell(gates, c);
      ys.push_back(h.reshape({1, B, H}));
    }
    return {concat(ys, 0), h, c};
  });
}

TEST_CASE("lstm_cell float32 agrees with float64") {
  Tensor g64 = rnd({4, 20}, 120, -3, 3), c64 = rnd({4, 5}, 121);
  Tensor g32 = g64.detach().to(DType::F32), c32 = c64.detach().to(DType::F32);
  g32.requires_grad_(true);
  c32.requires_grad_(true);
  Tensor dh = rnd({4, 5}, 122, -1, 1, false), dc = rnd({4, 5}, 123, -1, 1, false);
  auto [h64, cn64] = lstm_cell(g64, c64);
  auto [h32, cn32] = lstm_cell(g32, c32);
  add(sum(mul(h64, dh)), sum(mul(cn64, dc))).backward();
  add(sum(mul(h32, dh.to(DType::F32))), sum(mul(cn32, dc.to(DType::F32)))).backward();
  expect_close_f32(h32, h64, "h'");
  expect_close_f32(cn32, cn64, "c'");
  expect_close_f32(g32.grad(), g64.grad(), "dgates");
  expect_close_f32(c32.grad(), c64.grad(), "dc");
}

// ================================ lstm_layer ================================

namespace {
// The composition lstm_layer replaces: per step linear + add + lstm_cell. in: xproj, w_hh, b_hh, h0, c0.
TensorList lstm_layer_by_steps(const TensorList& in) {
  const Tensor &xproj = in[0], &w_hh = in[1], &b_hh = in[2];
  Tensor h = in[3], c = in[4];
  TensorList ys;
  for (int64_t t = 0; t < xproj.size(0); ++t) {
    std::tie(h, c) = lstm_cell(add(xproj.narrow(0, t, 1).squeeze(0), linear(h, w_hh, b_hh)), c);
    ys.push_back(h.unsqueeze(0));
  }
  return {concat(ys, 0), h, c};
}
TensorList lstm_layer_fused(const TensorList& in) {
  auto [out, h, c] = lstm_layer(in[0], in[1], in[2], in[3], in[4]);
  return {out, h, c};
}
// T=4, B=2, H=3: xproj (4, 2, 12), w_hh (12, 3), b_hh (12), h0, c0 (2, 3).
TensorList lstm_layer_inputs(uint64_t seed) {
  return {rnd({4, 2, 12}, seed, -1.5, 1.5), rnd({12, 3}, seed + 1, -0.7, 0.7), rnd({12}, seed + 2, -0.5, 0.5),
          rnd({2, 3}, seed + 3), rnd({2, 3}, seed + 4)};
}
}  // namespace

GRADCHECK_CASE(lstm_layer) {
  expect_gradcheck("lstm_layer (out, h_T, c_T)", lstm_layer_fused, lstm_layer_inputs(130));
  expect_gradcheck("lstm_layer only out used", [](const TensorList& in) -> TensorList {
    return {std::get<0>(lstm_layer(in[0], in[1], in[2], in[3], in[4]))};
  }, lstm_layer_inputs(140));
  expect_gradcheck("lstm_layer only c_T used, no b_hh, one step", [](const TensorList& in) -> TensorList {
    return {std::get<2>(lstm_layer(in[0], in[1], Tensor(), in[2], in[3]))};
  }, {rnd({1, 2, 8}, 150, -1.5, 1.5), rnd({8, 2}, 151, -0.7, 0.7), rnd({2, 2}, 152), rnd({2, 2}, 153)});
}

TEST_CASE("lstm_layer equals the per-step composition (float64) and agrees in float32") {
  TensorList a = lstm_layer_inputs(160), b;
  for (const Tensor& t : a) b.push_back(t.detach().requires_grad_(true));
  TensorList ya = lstm_layer_fused(a), yb = lstm_layer_by_steps(b);
  TensorList seeds = {rnd({4, 2, 3}, 170, -1, 1, false), rnd({2, 3}, 171, -1, 1, false), rnd({2, 3}, 172, -1, 1, false)};
  TensorList seeds_b = seeds;
  run_backward_all(ya, seeds);
  run_backward_all(yb, seeds_b);
  for (size_t i = 0; i < 3; ++i) expect_close(ya[i], yb[i], 1e-12, 1e-12, "output " + std::to_string(i));
  for (size_t i = 0; i < a.size(); ++i)
    expect_close(a[i].grad(), b[i].grad(), 1e-12, 1e-12, "grad of input " + std::to_string(i));

  TensorList f;
  for (const Tensor& t : a) f.push_back(t.detach().to(DType::F32).requires_grad_(true));
  TensorList yf = lstm_layer_fused(f);
  TensorList seeds_f;
  for (const Tensor& s : seeds) seeds_f.push_back(s.to(DType::F32));
  run_backward_all(yf, seeds_f);
  for (size_t i = 0; i < 3; ++i) expect_close_f32(yf[i], ya[i], "float32 output " + std::to_string(i));
  for (size_t i = 0; i < a.size(); ++i) expect_close_f32(f[i].grad(), a[i].grad(), "float32 grad " + std::to_string(i));
}

TEST_CASE("linear + lstm_layer matches torch.nn.LSTM") {
  expect_lstm_seq_matches_torch([](const TensorList& in) -> TensorList {
    auto [y, h, c] = lstm_layer(linear(in[0], in[1], in[3]), in[2], in[4], in[5], in[6]);
    return {y, h, c};
  });
}

TEST_CASE("lstm_layer rejects mismatched shapes with both shapes in the message") {
  Tensor w = zeros({12, 3}, DType::F64), h = zeros({2, 3}, DType::F64);
  expect_error([&] { lstm_layer(zeros({4, 2, 11}, DType::F64), w, Tensor(), h, h); },
               "xproj must be (T, B, 4H) = [4, 2, 12] for w_hh of shape [12, 3], got [4, 2, 11]");
  expect_error([&] { lstm_layer(zeros({4, 2, 12}, DType::F64), zeros({12, 4}, DType::F64), Tensor(), h, h); },
               "w_hh must be (4H, H), got [12, 4]");
  expect_error([&] { lstm_layer(zeros({4, 2, 12}, DType::F64), w, Tensor(), zeros({3, 3}, DType::F64), h); },
               "h0 and c0 must be (B, H) = [2, 3], got [3, 3] and [2, 3]");
  expect_error([&] { lstm_layer(zeros({4, 2, 12}, DType::F64), w, zeros({11}, DType::F64), h, h); },
               "b_hh must be (4H) = [12], got [11]");
  expect_error([&] { lstm_layer(zeros({4, 2, 12}, DType::F32), w, Tensor(), h, h); },
               "xproj is float32 but an argument is float64");
}

// ========================= scaled_dot_product_attention =========================

GRADCHECK_CASE(scaled_dot_product_attention) {
  expect_gradcheck("sdpa no mask", [](const TensorList& in) -> TensorList { return {sdpa(in)}; },
                   {rnd({2, 2, 3, 4}, 130), rnd({2, 2, 3, 4}, 131), rnd({2, 2, 3, 4}, 132)});
  expect_gradcheck("sdpa Tq != Tk, D != Dv, scale 0.7", [](const TensorList& in) -> TensorList {
    return {sdpa(in, Tensor(), 0.7)};
  }, {rnd({1, 2, 3, 2}, 133), rnd({1, 2, 5, 2}, 134), rnd({1, 2, 5, 4}, 135)});
  // Padding: sequence 0 keeps 3 of 4 keys, sequence 1 keeps 2.
  Tensor pad = from_vector(std::vector<int64_t>{1, 1, 1, 0, 1, 1, 0, 0}, {2, 1, 1, 4});
  expect_gradcheck("sdpa int64 padding mask (B,1,1,Tk)", [pad](const TensorList& in) -> TensorList {
    return {sdpa(in, pad)};
  }, {rnd({2, 2, 3, 3}, 136), rnd({2, 2, 4, 3}, 137), rnd({2, 2, 4, 2}, 138)});
  Tensor causal = from_vector(std::vector<int32_t>{1, 0, 0, 1, 1, 0, 1, 1, 1}, {3, 3});
  expect_gradcheck("sdpa int32 causal mask (Tq,Tk)", [causal](const TensorList& in) -> TensorList {
    return {sdpa(in, causal)};
  }, {rnd({1, 2, 3, 4}, 139), rnd({1, 2, 3, 4}, 140), rnd({1, 2, 3, 4}, 141)});
  Tensor bias = rnd({1, 2, 3, 4}, 142, -2, 2, false);
  expect_gradcheck("sdpa float additive mask (1,H,Tq,Tk)", [bias](const TensorList& in) -> TensorList {
    return {sdpa(in, bias)};
  }, {rnd({2, 2, 3, 3}, 143), rnd({2, 2, 4, 3}, 144), rnd({2, 2, 4, 2}, 145)});
  // Query row 1 sees no key: its output is zero and it sends no gradient (checked numerically too).
  Tensor blind = from_vector(std::vector<int64_t>{1, 1, 0, 0, 0, 0, 1, 0, 1}, {3, 3});
  expect_gradcheck("sdpa fully masked row", [blind](const TensorList& in) -> TensorList {
    return {sdpa(in, blind)};
  }, {rnd({1, 1, 3, 2}, 146), rnd({1, 1, 3, 2}, 147), rnd({1, 1, 3, 3}, 148)});
  // Leaves laid out (B, T, H, D), as projections produce them; the op sees transposed views.
  expect_gradcheck("sdpa on transpose(1,2) views", [](const TensorList& in) -> TensorList {
    return {sdpa({in[0].transpose(1, 2), in[1].transpose(1, 2), in[2].transpose(1, 2)})};
  }, {rnd({2, 3, 2, 4}, 149), rnd({2, 4, 2, 4}, 150), rnd({2, 4, 2, 3}, 151)});
  // Dropout: a fresh generator per evaluation gives the same mask every time, so the function
  // is deterministic and its gradient is that of the masked, rescaled attention.
  expect_gradcheck("sdpa dropout 0.3 in training", [](const TensorList& in) -> TensorList {
    Generator g(7);
    return {scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.3, true, 0.0, &g)};
  }, {rnd({2, 2, 3, 4}, 152), rnd({2, 2, 4, 4}, 153), rnd({2, 2, 4, 3}, 154)});
  expect_gradcheck("sdpa dropout + padding mask", [pad](const TensorList& in) -> TensorList {
    Generator g(7);
    return {scaled_dot_product_attention(in[0], in[1], in[2], pad, 0.5, true, 0.0, &g)};
  }, {rnd({2, 2, 3, 3}, 155), rnd({2, 2, 4, 3}, 156), rnd({2, 2, 4, 2}, 157)});
}

TEST_CASE("sdpa matches PyTorch's attention math") {
  for (const json& k : fixtures().at("sdpa")) {
    std::string name = k.at("name");
    Tensor q = load(k.at("q"), true), kk = load(k.at("k"), true), v = load(k.at("v"), true);
    Tensor mask;
    if (k.contains("mask")) mask = k.at("mask_kind") == "bool" ? load_int(k.at("mask")) : load(k.at("mask"));
    Tensor out = scaled_dot_product_attention(q, kk, v, mask, 0.0, false, k.at("scale").get<double>());
    expect_matches_torch(out, k.at("out"), name + " out");
    out.backward(load(k.at("dout")));
    expect_matches_torch(q.grad(), k.at("dq"), name + " dq");
    expect_matches_torch(kk.grad(), k.at("dk"), name + " dk");
    expect_matches_torch(v.grad(), k.at("dv"), name + " dv");
  }
}

TEST_CASE("sdpa: a fully masked row gives zeros, not NaN, and no gradient") {
  // PyTorch returns NaN for such a row; ember returns 0 so a padded batch stays finite.
  Tensor q = rnd({1, 1, 3, 2}, 160), k = rnd({1, 1, 3, 2}, 161), v = rnd({1, 1, 3, 2}, 162);
  Tensor mask = from_vector(std::vector<int64_t>{1, 0, 1, 0, 0, 0, 1, 1, 1}, {1, 1, 3, 3});
  Tensor out = sdpa({q, k, v}, mask);
  std::vector<double> o = out.to_vector<double>();
  CHECK(o[2] == 0.0);
  CHECK(o[3] == 0.0);
  for (double x : o) CHECK(std::isfinite(x));
  sum(out).backward();
  std::vector<double> dq = q.grad().to_vector<double>();
  CHECK(dq[2] == 0.0);
  CHECK(dq[3] == 0.0);
  for (double x : k.grad().to_vector<double>()) CHECK(std::isfinite(x));
  // A float mask of −inf over the whole row behaves the same.
  Tensor ninf = from_vector(std::vector<double>{0, 0, 0, -INFINITY, -INFINITY, -INFINITY, 0, 0, 0}, {3, 3});
  std::vector<double> o2 = sdpa({q, k, v}, ninf).to_vector<double>();
  CHECK(o2[2] == 0.0);
  CHECK(o2[3] == 0.0);
}

TEST_CASE("sdpa: masking keys equals leaving them out") {
  // Keys 2 and 3 masked for every query: same output, and same q/k/v grads on the kept keys,
  // as attention over keys 0, 1 and 4 alone; masked keys get exactly zero dk and dv.
  Tensor q = rnd({2, 2, 3, 4}, 170), k = rnd({2, 2, 5, 4}, 171), v = rnd({2, 2, 5, 3}, 172);
  Tensor keep = from_vector(std::vector<int64_t>{1, 1, 0, 0, 1}, {5});
  Tensor out = sdpa({q, k, v}, keep);
  sum(mul(out, rnd({2, 2, 3, 3}, 173, -1, 1, false))).backward();
  Tensor qs = q.detach(), ks = concat({k.detach().narrow(2, 0, 2), k.detach().narrow(2, 4, 1)}, 2);
  Tensor vs = concat({v.detach().narrow(2, 0, 2), v.detach().narrow(2, 4, 1)}, 2);
  Tensor ref = sdpa({qs, ks, vs});
  std::vector<double> a = out.to_vector<double>(), b = ref.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) CHECK(std::fabs(a[i] - b[i]) <= 1e-14);
  for (double g : k.grad().narrow(2, 2, 2).to_vector<double>()) CHECK(g == 0.0);
  for (double g : v.grad().narrow(2, 2, 2).to_vector<double>()) CHECK(g == 0.0);
}

TEST_CASE("sdpa dropout: reproducible, drops about p, rescales survivors") {
  // With v = I (Tk = Dv) the output is the dropped probability matrix itself, so each entry
  // must be 0 or P/(1−p) with P from the same call without dropout.
  const int64_t B = 4, H = 4, T = 16;
  const double p = 0.25;
  Tensor q = rnd({B, H, T, 8}, 180, -1, 1, false), k = rnd({B, H, T, 8}, 181, -1, 1, false);
  Tensor eye = zeros({T, T}, DType::F64);
  for (int64_t i = 0; i < T; ++i) eye.data<double>()[i * T + i] = 1.0;
  Tensor v = eye.expand({B, H, T, T});
  std::vector<double> P = scaled_dot_product_attention(q, k, v).to_vector<double>();
  Generator g(11);
  std::vector<double> Pd = scaled_dot_product_attention(q, k, v, Tensor(), p, true, 0.0, &g).to_vector<double>();
  CHECK(g.offset() == static_cast<uint64_t>(B * H * T * T / 4));  // one Philox block per 4 probabilities
  int64_t dropped = 0;
  for (size_t i = 0; i < P.size(); ++i) {
    if (Pd[i] == 0.0) ++dropped;
    else CHECK(std::fabs(Pd[i] - P[i] / (1 - p)) <= 1e-15);
  }
  // 4096 Bernoulli(0.25) draws: standard deviation 0.0068, so ±0.03 is more than 4σ.
  CHECK(std::fabs(static_cast<double>(dropped) / static_cast<double>(P.size()) - p) < 0.03);
  Generator same(11), later(11);
  later.advance(1);
  std::vector<double> again = scaled_dot_product_attention(q, k, v, Tensor(), p, true, 0.0, &same).to_vector<double>();
  std::vector<double> other = scaled_dot_product_attention(q, k, v, Tensor(), p, true, 0.0, &later).to_vector<double>();
  CHECK(again == Pd);
  CHECK(other != Pd);
  // Not training: no dropout, and the generator is left alone.
  Generator idle(11);
  CHECK(scaled_dot_product_attention(q, k, v, Tensor(), p, false, 0.0, &idle).to_vector<double>() == P);
  CHECK(idle.offset() == 0);
}

TEST_CASE("sdpa float32 agrees with float64") {
  Tensor mask = from_vector(std::vector<int64_t>{1, 1, 1, 1, 0, 1, 1, 0, 0, 0}, {2, 1, 1, 5});
  for (bool masked : {false, true}) {
    CAPTURE(masked);
    TensorList in64 = {rnd({2, 3, 4, 8}, 190), rnd({2, 3, 5, 8}, 191), rnd({2, 3, 5, 6}, 192)};
    TensorList in32;
    for (const Tensor& t : in64) in32.push_back(t.detach().to(DType::F32).requires_grad_(true));
    Tensor w = rnd({2, 3, 4, 6}, 193, -1, 1, false);
    Tensor o64 = sdpa(in64, masked ? mask : Tensor()), o32 = sdpa(in32, masked ? mask : Tensor());
    sum(mul(o64, w)).backward();
    sum(mul(o32, w.to(DType::F32))).backward();
    expect_close_f32(o32, o64, "out");
    for (int i = 0; i < 3; ++i)
      expect_close_f32(in32[i].grad(), in64[i].grad(), std::string("grad of input ") + "qkv"[i]);
  }
}

TEST_CASE("sdpa rejects bad inputs with clear messages") {
  Tensor q = zeros({2, 3, 4, 8}, DType::F64), k = zeros({2, 3, 5, 8}, DType::F64), v = zeros({2, 3, 5, 6}, DType::F64);
  expect_error([&] { scaled_dot_product_attention(zeros({2, 4, 8}, DType::F64), k, v); }, "must be 4-D (B, H, T, D)");
  expect_error([&] { scaled_dot_product_attention(q, zeros({2, 3, 5, 7}, DType::F64), v); },
               "k must be (B, H, Tk, D) = [2, 3, Tk, 8] to match q [2, 3, 4, 8], got [2, 3, 5, 7]");
  expect_error([&] { scaled_dot_product_attention(q, k, zeros({2, 3, 6, 6}, DType::F64)); },
               "v must be (B, H, Tk, Dv) = [2, 3, 5, Dv]");
  expect_error([&] { scaled_dot_product_attention(q, k, v.to(DType::F32)); }, "must share one dtype");
  expect_error([&] { scaled_dot_product_attention(q, k, v, zeros({2, 1, 1, 4}, DType::I64)); },
               "mask of shape [2, 1, 1, 4] does not broadcast to the scores' (B, H, Tq, Tk) = [2, 3, 4, 5]");
  expect_error([&] { scaled_dot_product_attention(q, k, v, Tensor(), 1.0, true); }, "dropout_p must be in [0, 1)");
  Tensor learned = zeros({4, 5}, DType::F64);
  learned.requires_grad_(true);
  expect_error([&] { scaled_dot_product_attention(q, k, v, learned); }, "gets no gradient");
}
