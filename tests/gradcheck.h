// tests/gradcheck.h — the one generic gradient check, and the registry that makes a test fail
// when an op of engine/ops.def has no gradcheck case.
//
// The check: for a function f of float64 inputs, take L = Σ_k Σ (out_k ⊙ W_k) with fixed random
// W_k, compare dL/dx from backward() with central differences (L(x+ε) − L(x−ε)) / 2ε for every
// element of every input that requires grad.
//
// Tolerance, stated once for every op: |analytic − numeric| ≤ kAtol + kRtol·|numeric| with
// ε = 1e-6. In float64 the central difference's truncation error is O(ε²) and its rounding
// error O(1e-16/ε) ≈ 1e-10, so 1e-7 leaves room for ops that sum many terms (conv, attention)
// while a wrong rule — off by a factor, a sign, a missing term — fails by orders of magnitude.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <string>

#include "engine/ops.h"

namespace ember::test {

constexpr double kEps = 1e-6;
constexpr double kAtol = 1e-7;
constexpr double kRtol = 1e-6;

using Fn = std::function<TensorList(const TensorList&)>;

struct GradcheckResult {
  bool ok = true;
  double max_abs_err = 0;
  int64_t checked = 0;
  std::string first_failure;
};

// Inputs must be float64 CPU leaves; those with requires_grad are checked.
GradcheckResult gradcheck(const Fn& f, const TensorList& inputs, uint64_t seed = 1234);

// Runs gradcheck and asserts it passed, with a message naming the op and the worst error.
void expect_gradcheck(const char* what, const Fn& f, const TensorList& inputs);

// Random float64 leaf in [lo, hi), requiring grad, from a fixed per-call seed.
Tensor rnd(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1, bool requires_grad = true);
// Like rnd, but every |value| ≥ margin: keeps inputs away from kinks (relu, abs at 0).
Tensor rnd_away(const Shape& shape, uint64_t seed, double margin = 0.1);
// Random integers in [lo, hi) (int64), never requiring grad.
Tensor rnd_int(const Shape& shape, uint64_t seed, int64_t lo, int64_t hi);

std::set<std::string>& gradcheck_registry();
struct GradcheckRegistrar {
  explicit GradcheckRegistrar(const char* op) { gradcheck_registry().insert(op); }
};

}  // namespace ember::test

#define EMBER_CAT2(a, b) a##b
#define EMBER_CAT(a, b) EMBER_CAT2(a, b)
// GRADCHECK_CASE(add) { expect_gradcheck(...); } — a doctest case "gradcheck add" that also
// marks `add` as covered for the every-op test.
#define GRADCHECK_CASE(op)                                                                        \
  static ::ember::test::GradcheckRegistrar EMBER_CAT(gradcheck_reg_, __COUNTER__)(#op);          \
  TEST_CASE("gradcheck " #op)
