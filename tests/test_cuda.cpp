// tests/test_cuda.cpp — the CUDA runtime and pointwise kernels against the CPU: host<->device
// round trips for every dtype, strided copies and dtype conversions on the device, fill,
// CUDA-vs-CPU parity of every pointwise functor (forward ops with broadcasting and views, and
// the backward functors), the caching allocator, and the errors (out of memory, a failing
// CUDA call, a missing device).
//
// Without a GPU (or in a CPU-only build) every test that needs a device is reported by doctest
// as SKIPPED, and "cuda: availability" prints why. The few tests without the decorator need no
// device: they check the no-device paths and the host-side arithmetic.
//
// Tolerances, per element: |cuda − cpu| ≤ tol · max(1, |cpu|) with tol = 1e-6 in float32 and
// 1e-12 in float64 (relative above 1, absolute below: CUDA's libm and glibc's are each within
// a few ulp of the true value, and where a functor subtracts, e.g. 1 + erf(x) for x ≪ 0, those
// ulp are of 1, not of the small result). Copies, conversions and fills must be exact.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/ops.h"
#include "engine/ops/pointwise.h"
#if EMBER_CUDA
#include "kernels/cuda/allocator.h"
#include "kernels/cuda/runtime.h"
#endif

using namespace ember;

namespace {

bool no_cuda() {
  static const bool none = !backend::cuda_available();
  return none;
}

std::string why_no_cuda() {
#if EMBER_CUDA
  return cuda::unavailable_reason();
#else
  return "ember was built without CUDA (EMBER_CUDA=OFF)";
#endif
}

const Device kGpu = Device::cuda(0);
const DType kAllDtypes[] = {DType::F32, DType::F64, DType::BF16, DType::I32, DType::I64};

// Uniform values in [lo, hi) as a float64 CPU tensor, then cast to dt (on the CPU).
Tensor uniform(const Shape& s, double lo, double hi, DType dt, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (double& x : v) x = u(rng);
  return from_vector<double>(v, s).to(dt);
}

std::vector<double> values(const Tensor& t) { return t.to(Device::cpu()).to_vector<double>(); }

void check_exact(const Tensor& got, const Tensor& want, const std::string& what) {
  REQUIRE(got.shape() == want.shape());
  CHECK(got.dtype() == want.dtype());
  std::vector<double> g = values(got), w = values(want);
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < g.size(); ++i) {
    bool same = g[i] == w[i] || (std::isnan(g[i]) && std::isnan(w[i]));
    if (!same && bad++ == 0) first = static_cast<int64_t>(i);
  }
  INFO(what, ": ", bad, " of ", g.size(), " elements differ",
       first >= 0 ? detail::str(" (first at ", first, ": cuda ", g[first], ", cpu ", w[first], ")") : "");
  CHECK(bad == 0);
}

double tol_for(DType dt) { return dt == DType::F64 ? 1e-12 : 1e-6; }

void check_close(const Tensor& got, const Tensor& want, const std::string& what) {
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  CHECK(got.device() == kGpu);
  double tol = tol_for(want.dtype());
  std::vector<double> g = values(got), w = values(want);
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    double err = std::isnan(w[i]) ? (std::isnan(g[i]) ? 0.0 : INFINITY)
                                  : std::fabs(g[i] - w[i]) / std::max(1.0, std::fabs(w[i]));
    if (!(err <= worst)) worst = err, at = i;
  }
  INFO(what, " (", want.dtype(), "): worst error ", worst, " at element ", at, " (cuda ", g[at], ", cpu ", w[at],
       "), tolerance ", tol);
  CHECK(worst <= tol);
}

}  // namespace

// ---------------- always run: why the rest is skipped, and the no-device paths ----------------

TEST_CASE("cuda: availability") {
  bool available = false;
  CHECK_NOTHROW(available = backend::cuda_available());  // must never throw, GPU or not
  if (!available) {
    MESSAGE("SKIPPED: every CUDA test that needs a device (no CUDA device: " << why_no_cuda() << ")");
    CHECK(!why_no_cuda().empty());
  } else {
#if EMBER_CUDA
    cudaDeviceProp prop{};
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    MESSAGE("CUDA tests run on " << cuda::device_count() << " device(s); cuda:0 is " << prop.name << " (sm_"
                                 << prop.major << prop.minor << ")");
#endif
  }
}

TEST_CASE("cuda: a CUDA tensor on a missing device is a clear error") {
  try {
    Tensor t = empty({4}, Options(DType::F32, Device::cuda(99)));
    FAIL("empty() on cuda:99 did not throw");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
#if EMBER_CUDA
    if (no_cuda()) CHECK(msg.find("no CUDA device is available") != std::string::npos);
    else CHECK(msg.find("cuda:99 does not exist") != std::string::npos);
#else
    CHECK(msg.find("built without CUDA") != std::string::npos);
#endif
  }
}

#if EMBER_CUDA
TEST_CASE("cuda: EMBER_CUDA_CHECK throws with the statement, the CUDA error, file and line") {
  // cudaSetDevice(-1) fails with or without a GPU (invalid device, or no driver/device).
  try {
    EMBER_CUDA_CHECK(cudaSetDevice(-1));
    FAIL("EMBER_CUDA_CHECK(cudaSetDevice(-1)) did not throw");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("CUDA error: cudaSetDevice(-1) failed: cudaError") != std::string::npos);
    CHECK(msg.find("(test_cuda.cpp:") != std::string::npos);
  }
}

TEST_CASE("cuda: allocation sizes round to 512 B, and to 2 MiB above 1 MiB") {
  const size_t MiB = size_t(1) << 20;
  CHECK(cuda::round_allocation(1) == 512);
  CHECK(cuda::round_allocation(512) == 512);
  CHECK(cuda::round_allocation(513) == 1024);
  CHECK(cuda::round_allocation(MiB) == MiB);
  CHECK(cuda::round_allocation(MiB + 1) == 2 * MiB);
  CHECK(cuda::round_allocation(2 * MiB + 1) == 4 * MiB);
  CHECK(cuda::round_allocation(5 * MiB) == 6 * MiB);
}
#endif

// ---------------- need a device ----------------

TEST_CASE("cuda: host -> device -> host round trip keeps every dtype's values" * doctest::skip(no_cuda())) {
  for (DType dt : kAllDtypes) {
    CAPTURE(dt);
    Tensor h = uniform({3, 5, 7}, -1000, 1000, dt, 1);
    Tensor d = h.to(kGpu);
    CHECK(d.device() == kGpu);
    CHECK(d.dtype() == dt);
    check_exact(d.to(Device::cpu()), h, "round trip");
  }
  // int64 beyond 2^53 (not representable as double): compare as int64.
  std::vector<int64_t> big = {(int64_t(1) << 62) + 1, -(int64_t(1) << 60) - 3, 7};
  CHECK(from_vector<int64_t>(big, {3}).to(kGpu).to_vector<int64_t>() == big);
  // 40 MB: more than one 32 MiB staging chunk, through both staging buffers.
  Tensor large = uniform({10'000'000}, -1, 1, DType::F32, 2);
  check_exact(large.to(kGpu).to(Device::cpu()), large, "40 MB round trip");
  // scalars and empty tensors
  Tensor s = full({}, 3.5, Options(DType::F64, kGpu));
  CHECK(s.item() == 3.5);
  Tensor e = empty({0, 4}, Options(DType::F32, kGpu));
  CHECK(e.to(Device::cpu()).numel() == 0);
}

TEST_CASE("cuda: strided copies match the CPU" * doctest::skip(no_cuda())) {
  Tensor x = uniform({4, 6, 5}, -10, 10, DType::F32, 3);
  Tensor xd = x.to(kGpu);
  // a non-contiguous host source, sent to the device
  check_exact(x.transpose(0, 2).to(kGpu), x.transpose(0, 2).contiguous(), "host transpose -> device");
  // views made dense on the device (the strided kernel), then read back
  check_exact(xd.transpose(0, 1).contiguous(), x.transpose(0, 1).contiguous(), "device transpose.contiguous()");
  check_exact(xd.permute({2, 0, 1}).contiguous(), x.permute({2, 0, 1}).contiguous(), "device permute");
  check_exact(xd.narrow(1, 2, 3).contiguous(), x.narrow(1, 2, 3).contiguous(), "device narrow");
  check_exact(xd.narrow(2, 1, 1).expand({4, 6, 3}).contiguous(), x.narrow(2, 1, 1).expand({4, 6, 3}).contiguous(),
              "device expand (stride 0)");
  // non-contiguous reads straight to the host
  check_exact(xd.transpose(1, 2), x.transpose(1, 2), "device transpose -> host");
  // a non-contiguous destination on the device, from the host and from the device
  Tensor dst = zeros({5, 4}, Options(DType::F32, kGpu));
  Tensor dst_t = dst.transpose(0, 1);  // (4, 5) view with strides (1, 4)
  Tensor src = uniform({4, 5}, -1, 1, DType::F32, 4);
  copy_(dst_t, src);
  check_exact(dst.to(Device::cpu()), src.transpose(0, 1).contiguous(), "host -> transposed device view");
  Tensor dst2 = zeros({5, 4}, Options(DType::F32, kGpu));
  Tensor dst2_t = dst2.transpose(0, 1);
  copy_(dst2_t, src.to(kGpu));
  check_exact(dst2.to(Device::cpu()), src.transpose(0, 1).contiguous(), "device -> transposed device view");
  // 8 dims after merging is the kernels' limit; 9 that cannot merge is a clear error
  Tensor nine = zeros({2, 2, 2, 2, 2, 2, 2, 2, 2}, Options(DType::F32, kGpu)).permute({8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK_THROWS_WITH_AS(nine.contiguous(), doctest::Contains("limit of 8"), Error);
}

TEST_CASE("cuda: dtype conversion on the device matches the CPU for every pair" * doctest::skip(no_cuda())) {
  // values with fractions and both signs, inside every dtype's range; a few exact halves so
  // bfloat16's round-to-nearest-even is exercised
  Tensor base = uniform({257}, -300, 300, DType::F64, 5);
  for (DType from : kAllDtypes) {
    Tensor h = base.to(from);
    Tensor d = h.to(kGpu);
    for (DType to : kAllDtypes) {
      CAPTURE(from);
      CAPTURE(to);
      check_exact(d.to(to), h.to(to), "device cast");  // on the device, then read back
      check_exact(d.narrow(0, 1, 128).to(to), h.narrow(0, 1, 128).to(to), "device cast of a view");
    }
  }
}

TEST_CASE("cuda: fill matches the CPU for every dtype, dense and strided" * doctest::skip(no_cuda())) {
  for (DType dt : kAllDtypes) {
    CAPTURE(dt);
    for (double v : {0.0, 1.0, -2.75, 3.14159265358979, 1e30}) {
      if (!is_floating(dt) && std::fabs(v) > 1e9) continue;
      check_exact(full({3, 33}, v, Options(dt, kGpu)), full({3, 33}, v, Options(dt)), "full");
    }
    Tensor d = zeros({4, 6}, Options(dt, kGpu));
    Tensor h = zeros({4, 6}, Options(dt));
    Tensor dv = d.narrow(1, 1, 3), hv = h.narrow(1, 1, 3);
    fill_(dv, 7.0);
    fill_(hv, 7.0);
    check_exact(d, h, "fill_ of a narrowed view");
    Tensor dt_view = d.transpose(0, 1);
    Tensor ht_view = h.transpose(0, 1);
    fill_(dt_view, -1.0);
    fill_(ht_view, -1.0);
    check_exact(d, h, "fill_ of a transposed view");
  }
}

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

// f on the CPU inputs and on dense device copies of them; views f takes inside happen on
// both sides, so dense, broadcast and strided kernel paths are all compared.
void parity(const std::string& name, const std::vector<Tensor>& cpu_in, const Fn& f) {
  std::vector<Tensor> gpu_in;
  for (const Tensor& t : cpu_in) gpu_in.push_back(t.to(kGpu));
  check_close(f(gpu_in), f(cpu_in), name);
}

// Integer-valued floats in [lo, hi): maximum/minimum and their tie weights meet many ties.
Tensor integers(const Shape& s, int lo, int hi, DType dt, uint32_t seed) {
  return uniform(s, lo, hi, DType::F64, seed).to(DType::I64).to(dt);
}

struct UnaryCase {
  const char* name;
  double lo, hi;
  std::function<Tensor(const Tensor&)> f;
};

}  // namespace

TEST_CASE("cuda: unary pointwise ops match the CPU (dense and strided)" * doctest::skip(no_cuda())) {
  const std::vector<UnaryCase> cases = {
      {"neg", -3, 3, [](const Tensor& x) { return neg(x); }},
      {"exp", -5, 5, [](const Tensor& x) { return exp(x); }},
      {"log", 0.01, 10, [](const Tensor& x) { return log(x); }},
      {"sqrt", 0, 10, [](const Tensor& x) { return sqrt(x); }},
      {"rsqrt", 0.01, 10, [](const Tensor& x) { return rsqrt(x); }},
      {"abs", -3, 3, [](const Tensor& x) { return abs(x); }},
      {"tanh", -4, 4, [](const Tensor& x) { return tanh(x); }},
      {"sigmoid", -8, 8, [](const Tensor& x) { return sigmoid(x); }},
      {"relu", -3, 3, [](const Tensor& x) { return relu(x); }},
      {"gelu", -4, 4, [](const Tensor& x) { return gelu(x); }},
      {"add_scalar", -3, 3, [](const Tensor& x) { return add_scalar(x, 0.75); }},
      {"mul_scalar", -3, 3, [](const Tensor& x) { return mul_scalar(x, -1.5); }},
      {"pow_scalar 2.5", 0.1, 3, [](const Tensor& x) { return pow_scalar(x, 2.5); }},
      {"pow_scalar -1", 0.5, 3, [](const Tensor& x) { return pow_scalar(x, -1.0); }},
      {"pow_scalar 3", -2, 2, [](const Tensor& x) { return pow_scalar(x, 3.0); }},
      {"clamp", -1, 1, [](const Tensor& x) { return clamp(x, -0.5, 0.7); }},
  };
  for (DType dt : {DType::F32, DType::F64}) {
    for (const UnaryCase& c : cases) {
      Tensor x = uniform({37, 41}, c.lo, c.hi, dt, 11);
      parity(detail::str(c.name, " dense"), {x}, [&](const std::vector<Tensor>& in) { return c.f(in[0]); });
      parity(detail::str(c.name, " of a transposed view"), {x},
             [&](const std::vector<Tensor>& in) { return c.f(in[0].transpose(0, 1)); });
    }
  }
}

TEST_CASE("cuda: binary pointwise ops match the CPU with broadcasting" * doctest::skip(no_cuda())) {
  const std::vector<std::pair<const char*, Binary>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
  };
  // (a's shape, b's shape, whether a is read through a transpose)
  struct Layout {
    const char* name;
    Shape a, b;
    bool transpose_a;
  };
  const std::vector<Layout> layouts = {
      {"same shape", {37, 41}, {37, 41}, false},
      {"(4,1,5) with (3,1)", {4, 1, 5}, {3, 1}, false},
      {"with a 0-d b", {6, 7}, {}, false},
      {"transposed a with a row b", {41, 37}, {41}, true},
  };
  for (DType dt : {DType::F32, DType::F64}) {
    for (const auto& [name, op] : ops) {
      std::string n(name);
      bool extremum = n == "maximum" || n == "minimum";
      for (const Layout& l : layouts) {
        // pow needs a > 0; div a b away from 0; max/min integers for ties
        Tensor a = extremum ? integers(l.a, -3, 3, dt, 21) : uniform(l.a, n == "pow" ? 0.1 : -3, 3, dt, 21);
        Tensor b = extremum ? integers(l.b, -3, 3, dt, 22)
                            : uniform(l.b, n == "div" ? 0.5 : -2, 2, dt, 22);
        bool t = l.transpose_a;
        parity(detail::str(name, " ", l.name), {a, b}, [&](const std::vector<Tensor>& in) {
          return op(t ? in[0].transpose(0, 1) : in[0], in[1]);
        });
      }
    }
  }
}

TEST_CASE("cuda: where and masked_fill match the CPU" * doctest::skip(no_cuda())) {
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor cond = integers({4, 1}, 0, 2, DType::I64, 31);  // int64: cast to dt on the device
    Tensor a = uniform({4, 5}, -1, 1, dt, 32);
    Tensor b = uniform({5}, -1, 1, dt, 33);
    parity("where (4,1) ? (4,5) : (5)", {cond, a, b},
           [](const std::vector<Tensor>& in) { return where(in[0], in[1], in[2]); });
    Tensor mask = integers({5}, 0, 2, DType::I64, 34);
    parity("masked_fill (4,5) by (5)", {a, mask},
           [](const std::vector<Tensor>& in) { return masked_fill(in[0], in[1], -7.5); });
    parity("masked_fill of a transposed view", {a, integers({4}, 0, 2, DType::I32, 35)},
           [](const std::vector<Tensor>& in) { return masked_fill(in[0].transpose(0, 1), in[1], 1e9); });
  }
}

TEST_CASE("cuda: backward functors match the CPU" * doctest::skip(no_cuda())) {
  using detail::zip;
  // (g, x) or (g, y) → input gradient; x's range keeps each rule in its domain
  struct GradCase {
    const char* name;
    double lo, hi;
    bool integer_x;  // zeros and ties matter (abs, relu, max/min weights)
    Binary f;
  };
  const std::vector<GradCase> cases = {
      {"exp (g·y)", 0.1, 5, false, [](const Tensor& g, const Tensor& y) { return zip(g, y, fn::Mul{}, "t"); }},
      {"log", 0.1, 5, false, [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::LogGrad{}, "t"); }},
      {"sqrt", 0.1, 5, false, [](const Tensor& g, const Tensor& y) { return zip(g, y, fn::SqrtGrad{}, "t"); }},
      {"rsqrt", 0.1, 3, false, [](const Tensor& g, const Tensor& y) { return zip(g, y, fn::RsqrtGrad{}, "t"); }},
      {"abs", -3, 3, true, [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::AbsGrad{}, "t"); }},
      {"tanh", -1, 1, false, [](const Tensor& g, const Tensor& y) { return zip(g, y, fn::TanhGrad{}, "t"); }},
      {"sigmoid", 0, 1, false, [](const Tensor& g, const Tensor& y) { return zip(g, y, fn::SigmoidGrad{}, "t"); }},
      {"relu", -3, 3, true, [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::ReluGrad{}, "t"); }},
      {"gelu", -4, 4, false, [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::GeluGrad{}, "t"); }},
      {"clamp", -1, 1, false,
       [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::ClampGrad{-0.5, 0.7}, "t"); }},
      {"pow_scalar 2.5", 0.1, 3, false,
       [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::PowScalarGrad{2.5}, "t"); }},
      {"pow_scalar 0", 0.1, 3, false,
       [](const Tensor& g, const Tensor& x) { return zip(g, x, fn::PowScalarGrad{0.0}, "t"); }},
      {"maximum weight", -3, 3, true,
       [](const Tensor& a, const Tensor& b) { return zip(a, b, fn::MaxWeightA{}, "t"); }},
      {"minimum weight", -3, 3, true,
       [](const Tensor& a, const Tensor& b) { return zip(a, b, fn::MinWeightA{}, "t"); }},
  };
  for (DType dt : {DType::F32, DType::F64}) {
    for (const GradCase& c : cases) {
      bool ints = c.integer_x;
      Tensor g = ints ? integers({6, 7}, -3, 3, dt, 41) : uniform({6, 7}, -2, 2, dt, 41);
      Tensor x = ints ? integers({6, 7}, -3, 3, dt, 42) : uniform({6, 7}, c.lo, c.hi, dt, 42);
      Tensor row = ints ? integers({7}, -3, 3, dt, 43) : uniform({7}, c.lo, c.hi, dt, 43);
      parity(detail::str(c.name, " grad"), {g, x}, [&](const std::vector<Tensor>& in) { return c.f(in[0], in[1]); });
      parity(detail::str(c.name, " grad, broadcast row"), {g, row},
             [&](const std::vector<Tensor>& in) { return c.f(in[0], in[1]); });
    }
  }
}

#if EMBER_CUDA
TEST_CASE("cuda: 1,000 alloc/free cycles of varying sizes keep memory flat and reuse cached blocks" *
          doctest::skip(no_cuda())) {
  cuda::synchronize(0);
  cuda::empty_cache();
  cuda::reset_peak_stats(0);
  const cuda::MemoryStats before = cuda::memory_stats(0);
  // 25 sizes from 1 element to 3M floats (12 MB: the 2 MiB-granular path)
  std::vector<int64_t> sizes;
  for (int64_t n = 1; n <= 3'000'000; n = n * 2 + 7) sizes.push_back(n);
  std::vector<size_t> rounded;
  size_t largest_pair = 0;
  for (int64_t n : sizes) {
    rounded.push_back(cuda::round_allocation(static_cast<size_t>(n) * 4));
    largest_pair = std::max(largest_pair, 2 * rounded.back());
  }
  std::sort(rounded.begin(), rounded.end());
  const int64_t distinct = std::unique(rounded.begin(), rounded.end()) - rounded.begin();

  int64_t not_flat = 0;
  for (int step = 0; step < 1000; ++step) {
    int64_t n = sizes[static_cast<size_t>(step) % sizes.size()];
    {
      Tensor x = full({n}, 1.0, Options(DType::F32, kGpu));  // two live blocks per step: x and x + x
      Tensor y = add(x, x);
      if (step % 97 == 0) CHECK(y.narrow(0, n - 1, 1).item() == 2.0);
    }
    if (cuda::memory_stats(0).allocated != before.allocated) ++not_flat;
  }
  const cuda::MemoryStats after = cuda::memory_stats(0);
  INFO("sizes: ", sizes.size(), " (", distinct, " distinct rounded), cudaMalloc calls: ",
       after.device_mallocs - before.device_mallocs, ", cache hits: ", after.cache_hits - before.cache_hits,
       ", peak allocated: ", after.peak_allocated, ", reserved: ", after.reserved);
  CHECK(not_flat == 0);
  CHECK(after.allocated == before.allocated);
  // each distinct size needs at most two blocks (x and y live together); every later step reuses them
  CHECK(after.device_mallocs - before.device_mallocs <= 2 * distinct);
  CHECK(after.cache_hits - before.cache_hits >= 2 * 1000 - 2 * distinct);
  CHECK(after.peak_allocated - before.allocated <= largest_pair);
  CHECK(after.reserved == after.allocated + after.cached);
  cuda::empty_cache();
  CHECK(cuda::memory_stats(0).cached == 0);
  CHECK(cuda::memory_stats(0).reserved == cuda::memory_stats(0).allocated);
}

TEST_CASE("cuda: out of memory names the bytes asked for and free, and leaves the device usable" *
          doctest::skip(no_cuda())) {
  const int64_t n = int64_t(1) << 43;  // 32 TiB of float32
  try {
    Tensor t = empty({n}, Options(DType::F32, kGpu));
    FAIL("a 32 TiB allocation did not fail");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("out of memory") != std::string::npos);
    CHECK(msg.find(std::to_string(n * 4) + " bytes") != std::string::npos);
    CHECK(msg.find("free of") != std::string::npos);
  }
  // the failed cudaMalloc left no error behind for the next launch check
  Tensor ok = full({1000}, 2.0, Options(DType::F32, kGpu));
  CHECK(mul(ok, ok).narrow(0, 999, 1).item() == 4.0);
}
#endif
