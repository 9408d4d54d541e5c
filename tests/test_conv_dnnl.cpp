// tests/test_conv_dnnl.cpp — conv2d's float32 path against the float64 im2col reference, on
// ResNet18's layer shapes: output, input gradient, weight gradient, bias gradient.
//
// With oneDNN (cpu::dnnl_conv_available()) every case runs three ways: EMBER_DNNL=all (oneDNN
// for every shape), unset (oneDNN where the output plane has ≥ 16 positions, im2col below),
// and EMBER_DNNL=0 (im2col only). Without oneDNN all three are the float32 im2col path.
// float64 always runs im2col + GEMM.
//
// Tolerance (float32 vs the float64 reference), per tensor:
//   max |f32 − f64| ≤ 1e-4 · (1 + max |f64|)
// float32's epsilon is 6e-8; a conv sums up to Cin·kh·kw = 1152 products here (more for the
// weight gradient: N·OH·OW), so its rounding error grows like √terms·6e-8·|terms| — orders
// below 1e-4 relative to the largest value. The bound is stated, not tuned.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "kernels/cpu/conv_dnnl.h"
#include "tests/scoped_env.h"
#include "tests/gradcheck.h"

using namespace ember;
using namespace ember::test;

namespace {

constexpr double kFloat32Tol = 1e-4;

struct ConvCase {
  const char* name;
  Shape x, w;
  bool bias;
  Pair2 stride, padding, dilation;
};

void expect_within(const Tensor& got32, const Tensor& want64, const std::string& what) {
  INFO(what);
  REQUIRE(got32.defined());
  REQUIRE(got32.dtype() == DType::F32);
  REQUIRE(got32.shape() == want64.shape());
  const std::vector<double> got = got32.to(DType::F64).to_vector<double>(), want = want64.to_vector<double>();
  double max_ref = 0, max_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(want[i]));
    max_err = std::max(max_err, std::fabs(got[i] - want[i]));
  }
  INFO("max |f32 - f64| = " << max_err << ", max |f64| = " << max_ref);
  CHECK(max_err <= kFloat32Tol * (1 + max_ref));
}

// One case: float64 reference and float32 from the same inputs, forward and backward.
void expect_float32_matches_reference(const ConvCase& c, uint64_t seed) {
  INFO(c.name);
  Tensor x64 = rnd(c.x, seed), w64 = rnd(c.w, seed + 1, -0.5, 0.5);
  Tensor b64 = c.bias ? rnd({c.w[0]}, seed + 2) : Tensor();
  Tensor x32 = x64.detach().to(DType::F32), w32 = w64.detach().to(DType::F32);
  Tensor b32 = c.bias ? b64.detach().to(DType::F32) : Tensor();
  for (Tensor* t : {&x32, &w32, &b32})
    if (t->defined()) t->requires_grad_(true);

  Tensor y64 = conv2d(x64, w64, b64, c.stride, c.padding, c.dilation);
  Tensor y32 = conv2d(x32, w32, b32, c.stride, c.padding, c.dilation);
  Tensor g = rnd(y64.shape(), seed + 3, -1, 1, false);
  y64.backward(g);
  y32.backward(g.to(DType::F32));

  expect_within(y32, y64, "output");
  expect_within(x32.grad(), x64.grad(), "grad input");
  expect_within(w32.grad(), w64.grad(), "grad weight");
  if (c.bias) expect_within(b32.grad(), b64.grad(), "grad bias");
}

// ResNet18's convolutions (channels scaled down, spatial sizes odd and even), plus dilation and
// unequal strides, which ember's conv2d also supports. groups = 1 is all conv2d has.
const std::vector<ConvCase>& resnet_cases() {
  static const std::vector<ConvCase> cases = {
      {"conv1 7x7 s2 p3, N=2, odd 33x31, no bias", {2, 3, 33, 31}, {8, 3, 7, 7}, false, 2, 3, 1},
      {"conv1 7x7 s2 p3, N=1, bias", {1, 3, 32, 32}, {8, 3, 7, 7}, true, 2, 3, 1},
      {"3x3 s1 p1, N=3, 9x9, no bias", {3, 16, 9, 9}, {16, 16, 3, 3}, false, 1, 1, 1},
      {"3x3 s1 p1, N=1, 8x8, bias", {1, 16, 8, 8}, {24, 16, 3, 3}, true, 1, 1, 1},
      {"3x3 s2 p1, N=2, odd 15x16, bias", {2, 16, 15, 16}, {32, 16, 3, 3}, true, 2, 1, 1},
      {"3x3 s2 p1, N=1, 8x8, no bias", {1, 16, 8, 8}, {32, 16, 3, 3}, false, 2, 1, 1},
      {"1x1 s2 downsample, N=2, 8x8, no bias", {2, 16, 8, 8}, {32, 16, 1, 1}, false, 2, 0, 1},
      {"1x1 s2 downsample, N=3, odd 7x7, bias", {3, 16, 7, 7}, {32, 16, 1, 1}, true, 2, 0, 1},
      {"1x1 s1 pointwise, N=2, bias", {2, 8, 5, 6}, {12, 8, 1, 1}, true, 1, 0, 1},
      {"layer4-like 3x3 s1 p1 at 2x2, 128 channels, N=4", {4, 128, 2, 2}, {64, 128, 3, 3}, false, 1, 1, 1},
      {"layer4-like 3x3 s1 p1 at 1x1, N=5, bias", {5, 64, 1, 1}, {32, 64, 3, 3}, true, 1, 1, 1},
      {"3x3 dilation 2 pad 2, N=2, 9x10, bias", {2, 4, 9, 10}, {5, 4, 3, 3}, true, 1, 2, 2},
      {"3x2 stride (2,1) pad (1,0) dilation (1,2), N=2", {2, 3, 6, 7}, {4, 3, 3, 2}, true, {2, 1}, {1, 0}, {1, 2}},
  };
  return cases;
}

}  // namespace

TEST_CASE("conv2d float32 with EMBER_DNNL=all (oneDNN for every shape) matches the float64 im2col reference") {
  INFO("oneDNN available: " << cpu::dnnl_conv_available());
  ScopedDnnlEnv env("all");
  CHECK(cpu::dnnl_conv_enabled() == cpu::dnnl_conv_available());
  uint64_t seed = 500;
  for (const ConvCase& c : resnet_cases()) expect_float32_matches_reference(c, seed += 10);
}

TEST_CASE("conv2d float32 by default (oneDNN for larger planes) matches the float64 im2col reference") {
  ScopedDnnlEnv env(nullptr);
  cpu::Window2d big, tiny;  // 8×8 and 1×1 output planes
  big.OH = big.OW = 8;
  tiny.OH = tiny.OW = 1;
  CHECK(cpu::dnnl_conv_wanted(big) == cpu::dnnl_conv_available());
  CHECK_FALSE(cpu::dnnl_conv_wanted(tiny));
  uint64_t seed = 600;
  for (const ConvCase& c : resnet_cases()) expect_float32_matches_reference(c, seed += 10);
}

TEST_CASE("conv2d float32 with EMBER_DNNL=0 (im2col) matches the float64 im2col reference") {
  ScopedDnnlEnv env("0");
  CHECK_FALSE(cpu::dnnl_conv_enabled());
  cpu::Window2d big;
  big.OH = big.OW = 8;
  CHECK_FALSE(cpu::dnnl_conv_wanted(big));
  uint64_t seed = 700;
  for (const ConvCase& c : resnet_cases()) expect_float32_matches_reference(c, seed += 10);
}

TEST_CASE("conv2d float32: a repeated shape (a cached oneDNN primitive) gives the same output") {
  ScopedDnnlEnv env("all");
  Tensor x = rnd({2, 16, 9, 9}, 900, -1, 1, false).to(DType::F32);
  Tensor w = rnd({16, 16, 3, 3}, 901, -1, 1, false).to(DType::F32);
  Tensor b = rnd({16}, 902, -1, 1, false).to(DType::F32);
  const std::vector<float> first = conv2d(x, w, b, 1, 1).to_vector<float>();
  for (int step = 0; step < 3; ++step) CHECK(conv2d(x, w, b, 1, 1).to_vector<float>() == first);
  // A different batch size is a different primitive; its first image is the same result.
  Tensor y1 = conv2d(x.narrow(0, 0, 1), w, b, 1, 1);
  const std::vector<float> one = y1.to_vector<float>();
  for (size_t i = 0; i < one.size(); ++i) CHECK(std::fabs(one[i] - first[i]) <= 1e-5f * (1 + std::fabs(first[i])));
}

TEST_CASE("oneDNN conv backward from the forward's reordered input gives the bits of reordering x again") {
  if (!cpu::dnnl_conv_available()) {
    MESSAGE("SKIPPED: ember was built without oneDNN");
    return;
  }
  cpu::Window2d s;
  s.C = 16, s.H = s.W = 9, s.kh = s.kw = 3, s.ph = s.pw = 1, s.OH = s.OW = 9;
  const int64_t N = 2, Cout = 16;
  const std::vector<float> x = rnd({N, 16, 9, 9}, 910, -1, 1, false).to(DType::F32).to_vector<float>();
  const std::vector<float> w = rnd({Cout, 16, 3, 3}, 911, -1, 1, false).to(DType::F32).to_vector<float>();
  const std::vector<float> g = rnd({N, Cout, 9, 9}, 912, -1, 1, false).to(DType::F32).to_vector<float>();
  const size_t bytes = cpu::dnnl_conv2d_blocked_input_bytes(N, Cout, s, false);
  INFO("blocked input bytes: " << bytes);
  std::vector<float> y(g.size()), blocked((bytes + 3) / 4), gw1(w.size()), gw2(w.size()), gx1(x.size()), gx2(x.size());
  cpu::dnnl_conv2d_forward(y.data(), x.data(), w.data(), nullptr, N, Cout, s, bytes ? blocked.data() : nullptr);
  cpu::dnnl_conv2d_backward(gx1.data(), gw1.data(), nullptr, g.data(), x.data(), w.data(), N, Cout, s, false);
  if (bytes == 0) {  // oneDNN kept x plain on this CPU: nothing to reuse
    MESSAGE("oneDNN runs this convolution on plain NCHW here; no blocked copy to test");
    return;
  }
  cpu::dnnl_conv2d_backward(gx2.data(), gw2.data(), nullptr, g.data(), nullptr, w.data(), N, Cout, s, false,
                            blocked.data());
  CHECK(gw2 == gw1);
  CHECK(gx2 == gx1);
  CHECK_THROWS_AS(cpu::dnnl_conv2d_backward(nullptr, gw2.data(), nullptr, g.data(), nullptr, w.data(), N, Cout, s,
                                            false, nullptr),
                  std::logic_error);
}
