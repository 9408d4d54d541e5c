// tests/test_norm_conv.cpp — the norm and conv families (engine/ops/norm.cpp, engine/ops/conv.cpp):
// float64 gradchecks, exact values against PyTorch, hand-computed cases, float32 agreement and
// the error messages for bad arguments.
//
// PyTorch parity: tests/fixtures/norm_conv.json, written by scripts/fixtures/norm_conv.py,
// holds inputs, an upstream gradient, and torch's outputs and gradients in float64.
// Tolerance (float64): |ember − torch| ≤ 1e-10·max(1, |torch|) per element — both sides
// compute the same formulas in double, so they differ only by rounding order (~1e-15).
// Float32 vs float64 of the same op: 1e-5·max(1, |float64 value|) (float32's 6e-8 epsilon
// times the few dozen terms a conv or a norm sums, with room).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/norm.h"
#include "tests/fixtures.h"
#include "tests/scoped_env.h"
#include "tests/gradcheck.h"

using namespace ember;
using namespace ember::test;
using nlohmann::json;

namespace {

constexpr double kTorchRtol = 1e-10;
constexpr double kFloat32Rtol = 1e-5;

const json& fixtures() { return test::fixture("norm_conv.json"); }

// The fixture cases whose name starts with `prefix`.
std::vector<std::pair<std::string, json>> cases(const std::string& prefix) {
  std::vector<std::pair<std::string, json>> out;
  for (const auto& [name, c] : fixtures().at("cases").items())
    if (name.rfind(prefix, 0) == 0) out.emplace_back(name, c);
  return out;
}

Tensor tensor_of(const json& j, bool requires_grad = false) { return test::fixture_tensor(j, requires_grad); }
Tensor optional_tensor(const json& c, const char* key, bool requires_grad = false) {
  return c.contains(key) ? tensor_of(c.at(key), requires_grad) : Tensor();
}
Pair2 pair_of(const json& j) { return {j.at(0).get<int64_t>(), j.at(1).get<int64_t>()}; }

// Elementwise |a − b| ≤ rtol·max(1, |b|); reports the first bad element and the worst error.
void expect_close(const Tensor& ours, const Tensor& ref, double rtol, const std::string& what) {
  INFO(what);
  REQUIRE(ours.defined());
  REQUIRE(ours.shape() == ref.shape());
  std::vector<double> a = ours.to(DType::F64).to_vector<double>(), b = ref.to_vector<double>();
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::fabs(a[i] - b[i]) / std::max(1.0, std::fabs(b[i]));
    worst = std::max(worst, err);
    if (!(err <= rtol) && bad++ == 0) first = static_cast<int64_t>(i);
  }
  INFO("first bad element ", first, " of ", a.size(), ", worst relative error ", worst);
  CHECK(bad == 0);
}
void expect_torch(const Tensor& ours, const json& c, const char* key, const std::string& name) {
  expect_close(ours, tensor_of(c.at(key)), kTorchRtol, name + " " + key);
}

// Values 0, 0.1·k for k a permutation of 0..n-1 (mult coprime to n): distinct, so an argmax
// cannot move under a gradcheck's ±1e-6 nudge.
Tensor shuffled_ramp(const Shape& shape, int64_t mult) {
  const int64_t n = shape_numel(shape);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = 0.1 * static_cast<double>((i * mult) % n);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  REQUIRE_MESSAGE(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "ramp multiplier not coprime");
  Tensor t = from_vector(v, shape);
  t.requires_grad_(true);
  return t;
}

}  // namespace

// ======================= float64 gradchecks =======================

GRADCHECK_CASE(layer_norm) {
  expect_gradcheck("layer_norm last dim, affine", [](const TensorList& in) -> TensorList {
    return {layer_norm(in[0], {5}, in[1], in[2])};
  }, {rnd({3, 5}, 300, -2, 2), rnd({5}, 301, 0.5, 1.5), rnd({5}, 302)});
  expect_gradcheck("layer_norm last 2 dims, affine", [](const TensorList& in) -> TensorList {
    return {layer_norm(in[0], {3, 4}, in[1], in[2])};
  }, {rnd({2, 3, 4}, 303, -2, 2), rnd({3, 4}, 304, 0.5, 1.5), rnd({3, 4}, 305)});
  expect_gradcheck("layer_norm last dim, no weight/bias", [](const TensorList& in) -> TensorList {
    return {layer_norm(in[0], {4}, Tensor(), Tensor())};
  }, {rnd({2, 3, 4}, 306, -2, 2)});
  expect_gradcheck("layer_norm last 2 dims, no weight/bias", [](const TensorList& in) -> TensorList {
    return {layer_norm(in[0], {2, 3}, Tensor(), Tensor(), 1e-3)};
  }, {rnd({3, 2, 3}, 307, -2, 2)});
  expect_gradcheck("layer_norm bias only", [](const TensorList& in) -> TensorList {
    return {layer_norm(in[0], {4}, Tensor(), in[1])};
  }, {rnd({3, 4}, 308, -2, 2), rnd({4}, 309)});
}

GRADCHECK_CASE(batch_norm2d) {
  expect_gradcheck("batch_norm2d training, affine", [](const TensorList& in) -> TensorList {
    return {batch_norm2d(in[0], in[1], in[2], Tensor(), Tensor(), true)};
  }, {rnd({2, 3, 3, 4}, 310, -1, 2), rnd({3}, 311, 0.5, 1.5), rnd({3}, 312)});
  // Running statistics present: they move on every call, which must not change the output.
  Tensor rm = zeros({2}, DType::F64), rv = ones({2}, DType::F64);
  expect_gradcheck("batch_norm2d training, running stats, no affine", [rm, rv](const TensorList& in) -> TensorList {
    return {batch_norm2d(in[0], Tensor(), Tensor(), rm, rv, true, 0.3)};
  }, {rnd({3, 2, 2, 3}, 313, -1, 2)});
  Tensor erm = rnd({3}, 314, -0.5, 0.5, false), erv = rnd({3}, 315, 0.5, 1.5, false);
  expect_gradcheck("batch_norm2d eval, affine", [erm, erv](const TensorList& in) -> TensorList {
    return {batch_norm2d(in[0], in[1], in[2], erm, erv, false)};
  }, {rnd({2, 3, 3, 4}, 316, -1, 2), rnd({3}, 317, 0.5, 1.5), rnd({3}, 318)});
}

GRADCHECK_CASE(conv2d) {
  expect_gradcheck("conv2d stride 2, pad 1, dil 2, bias", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], in[2], 2, 1, 2)};
  }, {rnd({2, 3, 7, 6}, 320), rnd({4, 3, 3, 2}, 321), rnd({4}, 322)});
  expect_gradcheck("conv2d stride (2,1), pad (1,0), no bias", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], Tensor(), {2, 1}, {1, 0})};
  }, {rnd({1, 2, 5, 6}, 323), rnd({3, 2, 2, 3}, 324)});
  expect_gradcheck("conv2d dilation (1,2), pad (0,2), bias", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], in[2], 1, {0, 2}, {1, 2})};
  }, {rnd({2, 2, 4, 5}, 325), rnd({3, 2, 2, 2}, 326), rnd({3}, 327)});
  expect_gradcheck("conv2d 1x1 pointwise, bias", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], in[2])};
  }, {rnd({2, 3, 3, 2}, 328), rnd({2, 3, 1, 1}, 329), rnd({2}, 330)});
  // Small padded planes, where the product goes tap by tap (cpu::conv2d_forward_taps).
  expect_gradcheck("conv2d 3x3 pad 1 on 2x2 planes, bias (tap by tap)", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], in[2], 1, 1)};
  }, {rnd({3, 2, 2, 2}, 331), rnd({4, 2, 3, 3}, 332), rnd({4}, 333)});
  expect_gradcheck("conv2d 3x3 stride 2 pad 1, 3x3 -> 2x2, no bias (tap by tap)", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], Tensor(), 2, 1)};
  }, {rnd({2, 3, 3, 3}, 334), rnd({2, 3, 3, 3}, 335)});
}

GRADCHECK_CASE(max_pool2d) {
  expect_gradcheck("max_pool2d k3 s2 p1", [](const TensorList& in) -> TensorList {
    return {max_pool2d(in[0], 3, 2, 1)};
  }, {shuffled_ramp({1, 2, 7, 6}, 11)});
  expect_gradcheck("max_pool2d k(3,2) s(1,2)", [](const TensorList& in) -> TensorList {
    return {max_pool2d(in[0], {3, 2}, {1, 2})};
  }, {shuffled_ramp({2, 1, 4, 6}, 7)});
}

GRADCHECK_CASE(adaptive_avg_pool2d) {
  expect_gradcheck("adaptive_avg_pool2d 5x7 -> 3x4", [](const TensorList& in) -> TensorList {
    return {adaptive_avg_pool2d(in[0], {3, 4})};
  }, {rnd({1, 2, 5, 7}, 340)});
  expect_gradcheck("adaptive_avg_pool2d 3x2 -> 5x3 (overlapping bins)", [](const TensorList& in) -> TensorList {
    return {adaptive_avg_pool2d(in[0], {5, 3})};
  }, {rnd({2, 1, 3, 2}, 341)});
}

GRADCHECK_CASE(interpolate_bilinear) {
  expect_gradcheck("interpolate_bilinear up 3x4 -> 5x7", [](const TensorList& in) -> TensorList {
    return {interpolate_bilinear(in[0], {5, 7})};
  }, {rnd({1, 2, 3, 4}, 350)});
  expect_gradcheck("interpolate_bilinear down 7x6 -> 4x3", [](const TensorList& in) -> TensorList {
    return {interpolate_bilinear(in[0], {4, 3})};
  }, {rnd({2, 1, 7, 6}, 351)});
}

// ======================= PyTorch parity (float64, 1e-10 relative) =======================

TEST_CASE("conv2d matches PyTorch: outputs and input/weight/bias gradients") {
  auto cs = cases("conv2d_");
  CHECK(cs.size() == 5);
  for (const auto& [name, c] : cs) {
    Tensor x = tensor_of(c.at("x"), true), w = tensor_of(c.at("weight"), true);
    Tensor b = optional_tensor(c, "bias", true);
    Tensor y = conv2d(x, w, b, pair_of(c.at("stride")), pair_of(c.at("padding")), pair_of(c.at("dilation")));
    expect_torch(y, c, "out", name);
    y.backward(tensor_of(c.at("grad_out")));
    expect_torch(x.grad(), c, "grad_x", name);
    expect_torch(w.grad(), c, "grad_weight", name);
    if (b.defined()) expect_torch(b.grad(), c, "grad_bias", name);
  }
}

TEST_CASE("pooling and resize match PyTorch: outputs and input gradients") {
  int checked = 0;
  for (const char* prefix : {"max_pool2d_", "adaptive_avg_pool2d_", "interpolate_bilinear_"}) {
    for (const auto& [name, c] : cases(prefix)) {
      Tensor x = tensor_of(c.at("x"), true), y;
      if (name.rfind("max_pool2d_", 0) == 0)
        y = max_pool2d(x, pair_of(c.at("kernel")), pair_of(c.at("stride")), pair_of(c.at("padding")));
      else if (name.rfind("adaptive", 0) == 0)
        y = adaptive_avg_pool2d(x, pair_of(c.at("output_size")));
      else
        y = interpolate_bilinear(x, pair_of(c.at("size")));
      expect_torch(y, c, "out", name);
      y.backward(tensor_of(c.at("grad_out")));
      expect_torch(x.grad(), c, "grad_x", name);
      ++checked;
    }
  }
  CHECK(checked == 7);
}

TEST_CASE("layer_norm matches PyTorch") {
  auto cs = cases("layer_norm_");
  CHECK(cs.size() == 3);
  for (const auto& [name, c] : cs) {
    Tensor x = tensor_of(c.at("x"), true);
    Tensor w = optional_tensor(c, "weight", true), b = optional_tensor(c, "bias", true);
    Tensor y = layer_norm(x, c.at("normalized_shape").get<Shape>(), w, b, c.at("eps").get<double>());
    expect_torch(y, c, "out", name);
    y.backward(tensor_of(c.at("grad_out")));
    expect_torch(x.grad(), c, "grad_x", name);
    if (w.defined()) expect_torch(w.grad(), c, "grad_weight", name);
    if (b.defined()) expect_torch(b.grad(), c, "grad_bias", name);
  }
}

TEST_CASE("batch_norm2d matches PyTorch: train (with running-stat update) and eval") {
  auto cs = cases("batch_norm2d_");
  CHECK(cs.size() == 2);
  for (const auto& [name, c] : cs) {
    Tensor x = tensor_of(c.at("x"), true), w = tensor_of(c.at("weight"), true), b = tensor_of(c.at("bias"), true);
    Tensor rm = tensor_of(c.at("running_mean")), rv = tensor_of(c.at("running_var"));
    Tensor y = batch_norm2d(x, w, b, rm, rv, c.at("training").get<bool>(), c.at("momentum").get<double>(),
                            c.at("eps").get<double>());
    expect_torch(y, c, "out", name);
    // Train: moved towards the batch statistics (unbiased variance). Eval: unchanged.
    expect_torch(rm, c, "running_mean_after", name);
    expect_torch(rv, c, "running_var_after", name);
    y.backward(tensor_of(c.at("grad_out")));
    expect_torch(x.grad(), c, "grad_x", name);
    expect_torch(w.grad(), c, "grad_weight", name);
    expect_torch(b.grad(), c, "grad_bias", name);
  }
}

// ======================= hand-computed cases =======================

// The tap-by-tap kernels against the im2col ones (both float64, same sums in another order):
// forward and both gradients, on the geometries that choose them and on ones that do not.
TEST_CASE("conv2d tap by tap equals im2col + GEMM, forward and backward") {
  struct Geo { int64_t N, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw; bool wanted; };
  const Geo geos[] = {
      {5, 3, 1, 1, 4, 3, 3, 1, 1, 1, 1, 1, 1, true},   // ResNet18 layer4 at 32 px: the centre tap only
      {4, 3, 2, 2, 5, 3, 3, 1, 1, 1, 1, 1, 1, true},   // layer3: four of nine taps per position
      {3, 2, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1, 1, true},   // a stride-2 downsampling, 4x4 -> 2x2
      {3, 2, 3, 2, 2, 3, 2, 2, 1, 2, 1, 2, 1, true},   // uneven kernel, stride, padding, dilation
      {2, 2, 6, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, false},  // a larger plane: im2col
      {2, 2, 2, 2, 3, 1, 1, 1, 1, 0, 0, 1, 1, false},  // 1x1 kernels never
  };
  for (const Geo& g : geos) {
    cpu::Window2d s;
    s.C = g.Cin, s.H = g.H, s.W = g.W, s.kh = g.kh, s.kw = g.kw, s.sh = g.sh, s.sw = g.sw;
    s.ph = g.ph, s.pw = g.pw, s.dh = g.dh, s.dw = g.dw;
    s.OH = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    s.OW = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    const std::string what = "geometry " + std::to_string(g.H) + "x" + std::to_string(g.W) + " k" +
                             std::to_string(g.kh) + "x" + std::to_string(g.kw) + " s" + std::to_string(g.sh);
    CHECK_MESSAGE(cpu::conv_taps_wanted(s) == g.wanted, what);
    CHECK_MESSAGE(cpu::conv_taps_used(s) == cpu::conv_taps(s).used, what);  // the count by arithmetic = the plan's
    CHECK_MESSAGE(cpu::conv_taps_count(s) == static_cast<int64_t>(cpu::conv_taps(s).taps.size()), what);
    {
      ScopedEnv off("EMBER_CONV_TAPS", "0");
      CHECK_FALSE(cpu::conv_taps_wanted(s));
    }
    const int64_t nx = g.N * g.Cin * g.H * g.W, nw = g.Cout * g.Cin * g.kh * g.kw, ny = g.N * g.Cout * s.OH * s.OW;
    auto vals = [](int64_t n, uint64_t seed) {
      Tensor t = rnd({n}, seed, -1, 1, false);
      return std::vector<double>(t.data<double>(), t.data<double>() + n);
    };
    const std::vector<double> x = vals(nx, 700), w = vals(nw, 701), b = vals(g.Cout, 702), gy = vals(ny, 703);
    std::vector<double> y1(ny), y2(ny), gx1(nx), gx2(nx), gw1(nw), gw2(nw);
    cpu::conv2d_forward_taps(y1.data(), x.data(), w.data(), b.data(), g.N, g.Cout, s);
    cpu::conv2d_forward_batched(y2.data(), x.data(), w.data(), b.data(), g.N, g.Cout, s);
    cpu::conv2d_backward_taps(gx1.data(), gw1.data(), gy.data(), x.data(), w.data(), g.N, g.Cout, s);
    cpu::conv2d_backward_batched(gx2.data(), gw2.data(), gy.data(), x.data(), w.data(), g.N, g.Cout, s);
    auto same = [&](const std::vector<double>& a, const std::vector<double>& e, const char* name) {
      double worst = 0;
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - e[i]) / std::max(1.0, std::abs(e[i])));
      CHECK_MESSAGE(worst <= kTorchRtol, what, " ", name, ": worst relative difference ", worst);
    };
    same(y1, y2, "y");
    same(gx1, gx2, "grad x");
    same(gw1, gw2, "grad w");
    // Only the input gradient: the weight gradient pointer may be null (and the other way round).
    std::vector<double> gx3(nx), gw3(nw);
    cpu::conv2d_backward_taps(gx3.data(), static_cast<double*>(nullptr), gy.data(), x.data(), w.data(), g.N, g.Cout, s);
    cpu::conv2d_backward_taps(static_cast<double*>(nullptr), gw3.data(), gy.data(), x.data(), w.data(), g.N, g.Cout, s);
    CHECK(gx3 == gx1);
    CHECK(gw3 == gw1);
    // The forward's gathered weights, handed to the backward, give the same bits as gathering again.
    if (g.wanted && cpu::conv_goes_by_taps(g.N, s)) {
      std::vector<double> wt(static_cast<size_t>(cpu::conv_tap_weights_size(g.N, g.Cout, s))), y4(ny), gx4(nx);
      CHECK(wt.size() == static_cast<size_t>(cpu::conv_taps(s).taps.size() * g.Cout * g.Cin));
      cpu::conv2d_forward_taps(y4.data(), x.data(), w.data(), b.data(), g.N, g.Cout, s, wt.data());
      cpu::conv2d_backward_taps(gx4.data(), static_cast<double*>(nullptr), gy.data(), x.data(), w.data(), g.N,
                                g.Cout, s, static_cast<const double*>(wt.data()));
      CHECK(y4 == y1);
      CHECK(gx4 == gx1);
    }
  }
}

TEST_CASE("conv2d by hand: 3x3 input, 2x2 kernel of ones") {
  // x = [[1,2,3],[4,5,6],[7,8,9]]: each output is the sum of a 2x2 window.
  Tensor x = from_vector<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = ones({1, 1, 2, 2}, DType::F64);
  x.requires_grad_(true);
  w.requires_grad_(true);
  Tensor b = from_vector<double>({0.5}, {1});
  Tensor y = conv2d(x, w, b);
  CHECK(y.shape() == Shape{1, 1, 2, 2});
  CHECK(y.to_vector<double>() == std::vector<double>{12.5, 16.5, 24.5, 28.5});
  // With an upstream gradient of ones: dx counts the windows covering each pixel, dw[i][j]
  // is the sum of the window shifted by (i, j).
  y.backward(ones({1, 1, 2, 2}, DType::F64));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 2, 1, 2, 4, 2, 1, 2, 1});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{12, 16, 24, 28});
}

TEST_CASE("interpolate_bilinear by hand: 2x2 -> 4x4") {
  // Along an axis of 2 → 4 (align_corners=False): src = (i + 0.5)/2 − 0.5 = −0.25 (clamped
  // to 0), 0.25, 0.75, 1.25 (i0 = i1 = 1), so [a, b] → [a, .75a + .25b, .25a + .75b, b].
  // x[h][w] = 2h + w is linear in both axes, so the result is 2·H(h) + H(w), H = [0, .25, .75, 1].
  Tensor x = from_vector<double>({0, 1, 2, 3}, {1, 1, 2, 2});
  Tensor y = interpolate_bilinear(x, {4, 4});
  const double H[4] = {0, 0.25, 0.75, 1};
  std::vector<double> expected;
  for (double h : H)
    for (double w : H) expected.push_back(2 * h + w);
  CHECK(y.to_vector<double>() == expected);
  // Same size: the identity.
  CHECK(interpolate_bilinear(x, {2, 2}).to_vector<double>() == x.to_vector<double>());
}

TEST_CASE("max_pool2d by hand: padding is -inf, ties go to the first maximum") {
  // All-negative input: zero padding would win; −inf padding never does.
  Tensor x = from_vector<double>({-4, -3, -2, -1}, {1, 1, 2, 2});
  x.requires_grad_(true);
  Tensor y = max_pool2d(x, 2, 1, 1);  // 3x3 output
  CHECK(y.to_vector<double>() == std::vector<double>{-4, -3, -3, -2, -1, -1, -2, -1, -1});
  Tensor t = from_vector<double>({5, 5, 5, 5}, {1, 1, 2, 2});
  t.requires_grad_(true);
  max_pool2d(t, 2, 2).backward(ones({1, 1, 1, 1}, DType::F64));
  CHECK(t.grad().to_vector<double>() == std::vector<double>{1, 0, 0, 0});
}

// The row-at-a-time kernel against the definition, window by window: values on a coarse grid
// (many ties) with NaNs sprinkled in, several geometries; the argmax, and y with idx = null.
TEST_CASE("max_pool2d kernel equals the window-by-window definition (ties, NaN, padding, dilation)") {
  struct Geo { int64_t H, W, kh, kw, sh, sw, ph, pw, dh, dw; };
  const Geo geos[] = {{7, 7, 3, 3, 2, 2, 1, 1, 1, 1}, {5, 6, 2, 3, 1, 2, 1, 1, 1, 1}, {6, 5, 3, 2, 2, 1, 0, 1, 1, 1},
                      {9, 8, 3, 3, 1, 2, 1, 1, 2, 3}, {4, 4, 4, 4, 4, 4, 2, 2, 1, 1}};
  for (const Geo& g : geos) {
    cpu::Window2d s;
    s.C = 3, s.H = g.H, s.W = g.W, s.kh = g.kh, s.kw = g.kw, s.sh = g.sh, s.sw = g.sw;
    s.ph = g.ph, s.pw = g.pw, s.dh = g.dh, s.dw = g.dw;
    s.OH = (g.H + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    s.OW = (g.W + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    const int64_t HW = s.H * s.W, P = s.OH * s.OW;
    std::vector<double> x(static_cast<size_t>(s.C * HW));
    for (size_t i = 0; i < x.size(); ++i) x[i] = (i * 7919 % 13 == 0) ? std::nan("") : double(i * 31 % 5) - 2;
    std::vector<double> y_ref(static_cast<size_t>(s.C * P)), y(y_ref.size()), y_noidx(y_ref.size());
    std::vector<int64_t> i_ref(y_ref.size()), idx(y_ref.size());
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          double best = -std::numeric_limits<double>::infinity();
          int64_t arg = -1;
          for (int64_t ki = 0; ki < s.kh; ++ki)
            for (int64_t kj = 0; kj < s.kw; ++kj) {
              const int64_t ih = oh * s.sh - s.ph + ki * s.dh, iw = ow * s.sw - s.pw + kj * s.dw;
              if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
              const double v = x[static_cast<size_t>(c * HW + ih * s.W + iw)];
              if (arg < 0) arg = ih * s.W + iw;  // all −inf: the first pixel of the window
              if (v > best || std::isnan(v)) best = v, arg = ih * s.W + iw;
            }
          y_ref[static_cast<size_t>(c * P + oh * s.OW + ow)] = best;
          i_ref[static_cast<size_t>(c * P + oh * s.OW + ow)] = arg;
        }
    cpu::max_pool2d_forward(y.data(), idx.data(), x.data(), s);
    cpu::max_pool2d_forward(y_noidx.data(), static_cast<int64_t*>(nullptr), x.data(), s);
    INFO("geometry ", g.H, "x", g.W, " k", g.kh, "x", g.kw, " s", g.sh, "x", g.sw, " d", g.dh, "x", g.dw);
    for (size_t i = 0; i < y.size(); ++i) {
      const bool both_nan = std::isnan(y[i]) && std::isnan(y_ref[i]);
      CHECK((both_nan || y[i] == y_ref[i]));
      CHECK((std::isnan(y_noidx[i]) == std::isnan(y[i]) && (std::isnan(y[i]) || y_noidx[i] == y[i])));
      CHECK(idx[i] == i_ref[i]);
    }
  }
}

// ======================= float32 agrees with float64 =======================

namespace {
// f on float64 leaves and on their float32 copies: outputs and gradients agree to 1e-5 relative.
void expect_float32_agrees(const char* what, const Fn& f, const TensorList& in64) {
  INFO(what);
  TensorList in32;
  for (const Tensor& t : in64) {
    Tensor c = t.detach().to(DType::F32);
    c.requires_grad_(true);
    in32.push_back(c);
  }
  Tensor y64 = f(in64)[0], y32 = f(in32)[0];
  CHECK(y32.dtype() == DType::F32);
  Tensor g = rnd(y64.shape(), 999, -1, 1, false);
  y64.backward(g);
  y32.backward(g.to(DType::F32));
  expect_close(y32, y64, kFloat32Rtol, std::string(what) + " out");
  for (size_t i = 0; i < in64.size(); ++i)
    expect_close(in32[i].grad(), in64[i].grad(), kFloat32Rtol, std::string(what) + " grad " + std::to_string(i));
}
}  // namespace

TEST_CASE("norm and conv ops in float32 agree with float64") {
  expect_float32_agrees("conv2d", [](const TensorList& in) -> TensorList {
    return {conv2d(in[0], in[1], in[2], {2, 1}, 1, {1, 2})};
  }, {rnd({2, 3, 6, 7}, 400), rnd({4, 3, 3, 2}, 401), rnd({4}, 402)});
  expect_float32_agrees("max_pool2d", [](const TensorList& in) -> TensorList {
    return {max_pool2d(in[0], 3, 2, 1)};
  }, {shuffled_ramp({1, 2, 7, 6}, 11)});
  expect_float32_agrees("adaptive_avg_pool2d", [](const TensorList& in) -> TensorList {
    return {adaptive_avg_pool2d(in[0], {3, 2})};
  }, {rnd({2, 2, 5, 7}, 403)});
  expect_float32_agrees("interpolate_bilinear", [](const TensorList& in) -> TensorList {
    return {interpolate_bilinear(in[0], {5, 3})};
  }, {rnd({1, 2, 3, 6}, 404)});
  expect_float32_agrees("layer_norm", [](const TensorList& in) -> TensorList {
    return {layer_norm(in[0], {6}, in[1], in[2])};
  }, {rnd({4, 6}, 405, -2, 3), rnd({6}, 406, 0.5, 1.5), rnd({6}, 407)});
  // layer_norm at BERT's width: in the next test case, at every ISA level.
  expect_float32_agrees("batch_norm2d train", [](const TensorList& in) -> TensorList {
    return {batch_norm2d(in[0], in[1], in[2], Tensor(), Tensor(), true)};
  }, {rnd({3, 2, 3, 4}, 408, -1, 2), rnd({2}, 409, 0.5, 1.5), rnd({2}, 410)});
}

// The float rows of kernels/cpu/isa.h exist once per x86 ISA level; each level this CPU has must
// meet the same float32 tolerance against float64 (the levels it lacks are named, not run).
TEST_CASE("layer_norm and cross_entropy float32 rows agree with float64 at every ISA level") {
  const cpu::Isa old = cpu::active_isa();
  for (cpu::Isa isa : {cpu::Isa::baseline, cpu::Isa::avx2, cpu::Isa::avx512}) {
    if (static_cast<int>(isa) > static_cast<int>(cpu::best_isa())) {
      const std::string note = std::string("ISA level ") + cpu::isa_name(isa) + " not on this CPU: not run";
      MESSAGE(note);
      continue;
    }
    cpu::set_active_isa(isa);
    REQUIRE(cpu::active_isa() == isa);
    const std::string level = std::string("ISA level ") + cpu::isa_name(isa);
    INFO(level);
    // BERT's width, rows with a large mean (cancellation) and a row count that is not a multiple
    // of the backward's 64-row blocks; then a width that is not a multiple of any vector width.
    expect_float32_agrees("layer_norm n=384, mean 20", [](const TensorList& in) -> TensorList {
      return {layer_norm(in[0], {384}, in[1], in[2], 1e-12)};
    }, {rnd({70, 384}, 411, 18, 22), rnd({384}, 412, 0.5, 1.5), rnd({384}, 413)});
    expect_float32_agrees("layer_norm n=384, no weight/bias", [](const TensorList& in) -> TensorList {
      return {layer_norm(in[0], {384}, Tensor(), Tensor())};
    }, {rnd({3, 384}, 414, -2, 3)});
    expect_float32_agrees("layer_norm n=37", [](const TensorList& in) -> TensorList {
      return {layer_norm(in[0], {37}, in[1], in[2])};
    }, {rnd({5, 37}, 416, -2, 3), rnd({37}, 417, 0.5, 1.5), rnd({37}, 418)});
    // 1,003 classes: not a multiple of any vector width; logits up to ±30.
    const Tensor targets = from_vector<int64_t>({5, 1002, 0, 77}, {4});
    expect_float32_agrees("cross_entropy C=1003", [&](const TensorList& in) -> TensorList {
      return {cross_entropy(in[0], targets) * 3.0};
    }, {rnd({4, 1003}, 415, -30, 30)});
  }
  cpu::set_active_isa(old);
}

// ======================= arguments and bookkeeping =======================

TEST_CASE("conv, pool and resize reject bad arguments with the shapes in the message") {
  Tensor x = zeros({1, 3, 5, 5}, DType::F64);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 4, 3, 3}, DType::F64)),
                       doctest::Contains("input has 3 channels but weight [2, 4, 3, 3] expects 4"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({3, 5, 5}, DType::F64), zeros({2, 3, 3, 3}, DType::F64)),
                       doctest::Contains("input must be 4-D (N, C, H, W), got [3, 5, 5]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(zeros({1, 1, 2, 2}, DType::F64), zeros({1, 1, 3, 3}, DType::F64)),
                       doctest::Contains("output size (0, 0) is too small for input [1, 1, 2, 2]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 3, 3, 3}, DType::F64), zeros({3}, DType::F64)),
                       doctest::Contains("bias must be (2), got [3]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 3, 3, 3}, DType::F64), Tensor(), 0),
                       doctest::Contains("stride must be positive"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, zeros({2, 3, 3, 3})), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, 3, 2, 2), doctest::Contains("at most half the kernel size"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, 7, 1), doctest::Contains("output size (-1, -1) is too small"), Error);
  CHECK_THROWS_WITH_AS(adaptive_avg_pool2d(x, {0, 2}), doctest::Contains("output size must be positive"), Error);
  CHECK_THROWS_WITH_AS(interpolate_bilinear(zeros({5, 5}, DType::F64), {2, 2}), doctest::Contains("4-D"), Error);
}

TEST_CASE("layer_norm and batch_norm2d reject bad arguments") {
  Tensor x = zeros({2, 3, 4}, DType::F64);
  CHECK_THROWS_WITH_AS(layer_norm(x, {3}, Tensor(), Tensor()),
                       doctest::Contains("input of shape [2, 3, 4] does not end in normalized_shape [3]"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, {4}, ones({3}, DType::F64), Tensor()),
                       doctest::Contains("weight must have shape [4], got [3]"), Error);
  Tensor img = zeros({2, 3, 2, 2}, DType::F64);
  CHECK_THROWS_WITH_AS(batch_norm2d(x, Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("input must be 4-D (N, C, H, W), got [2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d(img, Tensor(), Tensor(), Tensor(), Tensor(), false),
                       doctest::Contains("eval mode needs running_mean and running_var"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d(zeros({1, 3, 1, 1}, DType::F64), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("more than 1 value per channel"), Error);
  CHECK_THROWS_WITH_AS(batch_norm2d(img, Tensor(), Tensor(), zeros({4}, DType::F64), ones({4}, DType::F64), true),
                       doctest::Contains("running_mean must have shape [3], got [4]"), Error);
}

TEST_CASE("batch_norm2d: eval is a per-channel affine map; no grad, no graph") {
  Tensor x = rnd({2, 2, 3, 3}, 420, -1, 1, false);
  Tensor rm = from_vector<double>({0.5, -1}, {2}), rv = from_vector<double>({4, 0.25}, {2});
  Tensor w = from_vector<double>({2, 3}, {2}), b = from_vector<double>({1, -1}, {2});
  Tensor y = batch_norm2d(x, w, b, rm, rv, false, 0.1, 0.0);
  CHECK_FALSE(y.requires_grad());
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  for (size_t i = 0; i < xv.size(); ++i) {
    const size_t c = (i / 9) % 2;
    const double expect = c == 0 ? (xv[i] - 0.5) / 2 * 2 + 1 : (xv[i] + 1) / 0.5 * 3 - 1;
    CHECK(yv[i] == doctest::Approx(expect).epsilon(1e-14));
  }
  CHECK(rm.to_vector<double>() == std::vector<double>{0.5, -1});  // eval leaves running stats alone
}

TEST_CASE("conv2d with only the weight requiring grad (a frozen input)") {
  Tensor x = rnd({2, 2, 4, 4}, 430, -1, 1, false);
  Tensor w = rnd({3, 2, 3, 3}, 431);
  Tensor y = conv2d(x, w, Tensor(), 1, 1);
  sum(y).backward();
  REQUIRE(w.grad().defined());
  // d Σy / d w[o][c][i][j] = Σ over images and outputs of the input under tap (i, j).
  Tensor w2 = w.detach().clone();
  w2.requires_grad_(true);
  Tensor x2 = x.detach().clone();
  x2.requires_grad_(true);
  sum(conv2d(x2, w2, Tensor(), 1, 1)).backward();
  expect_close(w.grad(), w2.grad(), 1e-14, "weight grad without and with an input grad");
  CHECK_FALSE(x.grad().defined());
}

// The channel-blocked statistics keep each channel's summation order, so they give the bits of
// summing one channel at a time (13 channels: a full block of 8 and 5 alone; HW 1, 4 and 7).
TEST_CASE("batch_norm_stats (float, channels in blocks) equals summing one channel at a time, bit for bit") {
  for (const int64_t HW : {1, 4, 7}) {
    const int64_t N = 3, C = 13;
    const Tensor t = rnd({N * C * HW}, 940 + static_cast<uint64_t>(HW), -3, 5, false).to(DType::F32);
    const std::vector<float> x = t.to_vector<float>();
    std::vector<float> mean(C), var(C);
    cpu::batch_norm_stats(mean.data(), var.data(), x.data(), N, C, HW);
    for (int64_t c = 0; c < C; ++c) {
      double m = 0, m2 = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) m += static_cast<double>(x[static_cast<size_t>((n * C + c) * HW + i)]);
      m /= static_cast<double>(N * HW);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const double d = static_cast<double>(x[static_cast<size_t>((n * C + c) * HW + i)]) - m;
          m2 += d * d;
        }
      CHECK(mean[static_cast<size_t>(c)] == static_cast<float>(m));
      CHECK(var[static_cast<size_t>(c)] == static_cast<float>(m2 / static_cast<double>(N * HW)));
    }
  }
}
