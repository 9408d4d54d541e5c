// Tensor creation, views, copies, printing, RNG; autograd mechanics (accumulation,
// topological order, graph release, NoGradGuard, detach, frozen inputs).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "engine/ops.h"
#include "kernels/cpu/allocator.h"

using namespace ember;

TEST_CASE("tensor: creation and metadata") {
  Tensor z = zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.strides() == Shape{3, 1});
  CHECK(z.numel() == 6);
  CHECK(z.dtype() == DType::F32);
  CHECK(z.device() == Device::cpu());
  for (float v : z.to_vector<float>()) CHECK(v == 0.0f);
  for (double v : full({4}, 2.5, DType::F64).to_vector<double>()) CHECK(v == 2.5);
  CHECK(arange(0, 5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(1, 2, 0.25, DType::F64).to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
  Tensor s = full({}, 3.0);
  CHECK(s.dim() == 0);
  CHECK(s.item() == 3.0);
  CHECK_THROWS_WITH_AS(zeros({2, 2}).item(), doctest::Contains("exactly one element"), Error);
  CHECK_THROWS_WITH_AS(from_vector<float>({1, 2, 3}, {2, 2}), doctest::Contains("3 values do not fill shape [2, 2]"),
                       Error);
}

TEST_CASE("tensor: dtype conversions, including bfloat16 rounding") {
  Tensor x = from_vector<double>({1.5, -2.25, 3.0e-3, 70000.0}, {4});
  CHECK(x.to(DType::I64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 0, 70000});
  Tensor b = x.to(DType::BF16);
  CHECK(b.dtype() == DType::BF16);
  std::vector<double> back = b.to(DType::F64).to_vector<double>();
  CHECK(back[0] == 1.5);
  CHECK(back[1] == -2.25);
  CHECK(back[3] == 70144.0);  // 70000 rounds to the nearest bf16 (8 significant bits)
  CHECK(std::fabs(back[2] - 3.0e-3) < 3.0e-3 / 128);
  CHECK(static_cast<float>(bfloat16(1.0f + 1.0f / 256)) == 1.0f);  // ties to even
}

TEST_CASE("tensor: views share storage, copies do not") {
  Tensor x = arange(0, 12, 1, DType::F64).reshape({3, 4});
  Tensor t = x.transpose(0, 1);
  CHECK(t.shape() == Shape{4, 3});
  CHECK_FALSE(t.is_contiguous());
  CHECK(t.storage() == x.storage());
  CHECK(t.contiguous().to_vector<double>() ==
        std::vector<double>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  Tensor n = x.narrow(1, 1, 2);
  CHECK(n.storage() == x.storage());
  CHECK(n.to_vector<double>() == std::vector<double>{1, 2, 5, 6, 9, 10});
  Tensor r = t.reshape({12});  // not contiguous: reshape copies
  CHECK(r.storage() != x.storage());
  CHECK_THROWS_WITH_AS(t.view({12}), doctest::Contains("not contiguous"), Error);
  Tensor e = from_vector<double>({1, 2, 3}, {3, 1}).expand({3, 4});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(sum(e).item() == 24.0);
  CHECK(x.unsqueeze(0).shape() == Shape{1, 3, 4});
  CHECK(x.unsqueeze(-1).shape() == Shape{3, 4, 1});
  CHECK(x.flatten().shape() == Shape{12});
  Tensor c = x.clone();
  CHECK(c.storage() != x.storage());
  CHECK(c.to_vector<double>() == x.to_vector<double>());
}

TEST_CASE("tensor: broadcasting errors name both shapes") {
  CHECK_THROWS_WITH_AS(add(zeros({2, 3}), zeros({4})), doctest::Contains("shapes [2, 3] and [4] cannot be broadcast"),
                       Error);
  CHECK_THROWS_WITH_AS(add(zeros({2}), zeros({2}, DType::F64)), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({4, 5})), doctest::Contains("cannot be multiplied"), Error);
}

TEST_CASE("tensor: printing") {
  std::string s = from_vector<float>({1, 2, 3, 4}, {2, 2}).str();
  CHECK(s.find("[[1, 2],") != std::string::npos);
  CHECK(s.find("shape=[2, 2]") != std::string::npos);
  CHECK(s.find("dtype=float32") != std::string::npos);
  std::string big = zeros({100}).str();
  CHECK(big.find("...") != std::string::npos);
}

TEST_CASE("random: same seed, same numbers; different seed, different numbers") {
  Generator a(7), b(7), c(8);
  std::vector<double> va = randn({1000}, DType::F64, &a).to_vector<double>();
  std::vector<double> vb = randn({1000}, DType::F64, &b).to_vector<double>();
  std::vector<double> vc = randn({1000}, DType::F64, &c).to_vector<double>();
  CHECK(va == vb);
  CHECK(va != vc);
  double mean = 0, sq = 0;
  for (double v : va) mean += v / 1000;
  for (double v : va) sq += (v - mean) * (v - mean) / 999;
  CHECK(std::fabs(mean) < 0.1);
  CHECK(std::fabs(sq - 1.0) < 0.1);
  manual_seed(3);
  std::vector<int64_t> r1 = randint(0, 10, {50}).to_vector<int64_t>();
  manual_seed(3);
  std::vector<int64_t> r2 = randint(0, 10, {50}).to_vector<int64_t>();
  CHECK(r1 == r2);
  for (int64_t v : r1) CHECK((v >= 0 && v < 10));
  // Philox-4x32-10 known-answer test (Random123's kat_vectors: counter 0, key 0).
  uint32_t out[4];
  Philox::block(0, 0, 0, out);
  CHECK(out[0] == 0x6627e8d5u);
  CHECK(out[1] == 0xe169c58du);
  CHECK(out[2] == 0xbc57ac4cu);
  CHECK(out[3] == 0x9b00dbd8u);

  // The bulk paths of dropout give exactly the per-block words and the per-word `u >= p` test,
  // across a 256-block chunk edge and from an offset that is not a multiple of 4.
  const uint64_t key = 0x1234abcdULL << 20, first = (uint64_t{1} << 32) - 7;  // counters cross 2³²
  std::vector<uint32_t> bulk(4 * 300);
  Philox::blocks(key, first, 300, bulk.data());
  int bad_words = 0, bad_keep = 0;
  for (int64_t b = 0; b < 300; ++b) {
    uint32_t w[4];
    Philox::block(key, first + b, 0, w);
    for (int j = 0; j < 4; ++j) bad_words += bulk[4 * b + j] != w[j];
  }
  CHECK(bad_words == 0);
  for (double p : {0.0, 0.1, 0.5, 1.0}) {
    std::vector<uint8_t> keep(1001, 7);
    philox_keep_mask(keep.data(), key, first, 3, 1001, p);
    for (int64_t i = 0; i < 1001; ++i)
      bad_keep += keep[i] != ((static_cast<double>(bulk[3 + i]) * 0x1p-32 >= p) ? 1 : 0);
  }
  CHECK(bad_keep == 0);
}

TEST_CASE("autograd: gradients accumulate into leaves across backward calls") {
  Tensor x = from_vector<double>({1, 2, 3}, {3}, Options(DType::F64, Device::cpu(), true));
  sum(mul(x, x)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  sum(mul_scalar(x, 3.0)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("autograd: a diamond graph sums both paths (topological order)") {
  Tensor x = from_vector<double>({0.5}, {1}, Options(DType::F64, Device::cpu(), true));
  Tensor a = exp(x);
  Tensor b = mul(a, a);          // e^{2x}
  Tensor c = add(b, a);          // e^{2x} + e^x
  Tensor d = mul(c, tanh(a));    // uses a along a third path
  d.backward(ones({1}, DType::F64));
  double ea = std::exp(0.5), th = std::tanh(ea);
  double expected = (2 * ea * ea + ea) * th + (ea * ea + ea) * (1 - th * th) * ea;
  CHECK(x.grad().item() == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("autograd: the graph is released after backward unless retained") {
  Tensor x = from_vector<double>({1, 2}, {2}, Options(DType::F64, Device::cpu(), true));
  Tensor y = sum(exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();  // second pass allowed: the first retained the graph
  std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[0] == doctest::Approx(2 * std::exp(1.0)).epsilon(1e-14));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already released"), Error);
}

TEST_CASE("autograd: NoGradGuard and detach record nothing") {
  Tensor w = ones({3}, Options(DType::F64, Device::cpu(), true));
  {
    NoGradGuard ng;
    Tensor y = mul(w, w);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(grad_mode_enabled());
  Tensor d = w.detach();
  CHECK_FALSE(d.requires_grad());
  CHECK(d.storage() == w.storage());
  Tensor y = mul(d, w);
  y.backward(ones({3}, DType::F64));
  CHECK(w.grad().to_vector<double>() == std::vector<double>{1, 1, 1});  // only the w path
  CHECK_THROWS_WITH_AS(sum(d).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("autograd: frozen inputs build no graph and get no gradient") {
  Tensor frozen_w = randn({4, 3}, DType::F64);  // requires_grad false: a frozen extractor
  Tensor head_w = randn({2, 4}, Options(DType::F64, Device::cpu(), true));
  Tensor x = randn({5, 3}, DType::F64);
  Tensor features = relu(linear(x, frozen_w));
  CHECK_FALSE(features.requires_grad());
  CHECK(features.grad_fn() == nullptr);  // no node was recorded for the extractor
  Tensor out = linear(features, head_w);
  CHECK(out.grad_fn() != nullptr);
  CHECK(out.grad_fn()->next.size() == 3);
  CHECK_FALSE(out.grad_fn()->needs_input_grad(0));  // the features: no edge
  sum(out).backward();
  CHECK_FALSE(frozen_w.grad().defined());
  CHECK(head_w.grad().defined());
}

TEST_CASE("autograd: backward of a non-scalar needs a gradient of the right shape") {
  Tensor x = ones({2, 2}, Options(DType::F64, Device::cpu(), true));
  Tensor y = mul_scalar(x, 2.0);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("non-scalar"), Error);
  CHECK_THROWS_WITH_AS(y.backward(ones({3}, DType::F64)), doctest::Contains("does not match"), Error);
}

TEST_CASE("op list: names are unique and every family is one of the engine's files") {
  std::set<std::string> names;
  for (const OpInfo& op : op_list()) {
    CHECK(names.insert(op.name).second);
    std::string f = op.family;
    bool known = f == "elementwise" || f == "reduce" || f == "linalg" || f == "shape" || f == "index" ||
                 f == "softmax" || f == "norm" || f == "conv" || f == "fused";
    CHECK(known);
  }
}

// The host cache (kernels/cpu/allocator.h): a freed large block comes back for the next request
// of its rounded size, small blocks never enter it, and the limit bounds what it keeps.
TEST_CASE("tensor: host allocator caches large blocks within its limit") {
  using namespace ember::cpu;
  const size_t old_limit = host_memory_stats().cache_limit;
  host_empty_cache();
  host_set_cache_limit(size_t(8) << 20);
  CHECK(host_round_allocation(100) == 128);
  CHECK(host_round_allocation(size_t(3) << 20) == size_t(4) << 20);
  CHECK(host_round_allocation((size_t(3) << 20) + 1) == size_t(4) << 20);

  const size_t big = (size_t(3) << 20) + 12345;  // rounds to 4 MiB
  void* a = host_alloc(big);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(a) % 64 == 0);
  static_cast<char*>(a)[big - 1] = 1;  // the whole request is usable
  host_free(a, big);
  CHECK(host_memory_stats().cached == size_t(4) << 20);
  const int64_t hits = host_memory_stats().cache_hits;
  void* b = host_alloc(size_t(4) << 20);  // same rounded size: the cached block
  CHECK(b == a);
  CHECK(host_memory_stats().cache_hits == hits + 1);
  CHECK(host_memory_stats().cached == 0);

  // Over the limit: 4 MiB cached, then 6 MiB more would make 10 > 8, so that block is freed.
  void* c = host_alloc(size_t(6) << 20);
  host_free(b, size_t(4) << 20);
  host_free(c, size_t(6) << 20);
  CHECK(host_memory_stats().cached == size_t(4) << 20);

  void* small = host_alloc(1000);  // below 1 MiB: straight back to malloc
  host_free(small, 1000);
  CHECK(host_memory_stats().cached == size_t(4) << 20);

  // Tensors go through it: dropping a 4 MiB tensor and making another of that size reuses it.
  host_set_cache_limit(size_t(64) << 20);
  host_empty_cache();
  { Tensor t = zeros({1 << 20}); }
  const int64_t before = host_memory_stats().cache_hits;
  Tensor u = full({1 << 20}, 2.0);
  CHECK(host_memory_stats().cache_hits == before + 1);
  CHECK(u.to_vector<float>()[12345] == 2.0f);  // a reused block holds what was written, not stale zeros

  host_set_cache_limit(0);
  CHECK(host_memory_stats().cached == 0);
  host_set_cache_limit(old_limit);
}
