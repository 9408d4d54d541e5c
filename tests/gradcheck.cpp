// tests/gradcheck.cpp — central-difference gradient checking in float64 (see gradcheck.h).
#include "tests/gradcheck.h"

#include <cmath>
#include <cstdio>

namespace ember::test {

std::set<std::string>& gradcheck_registry() {
  static std::set<std::string> r;
  return r;
}

Tensor rnd(const Shape& shape, uint64_t seed, double lo, double hi, bool requires_grad) {
  Generator g(seed);
  Tensor t = rand(shape, Options(DType::F64), &g);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = lo + (hi - lo) * p[i];
  if (requires_grad) t.requires_grad_(true);
  return t;
}

Tensor rnd_away(const Shape& shape, uint64_t seed, double margin) {
  Tensor t = rnd(shape, seed, -1, 1, false);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = p[i] < 0 ? p[i] - margin : p[i] + margin;
  t.requires_grad_(true);
  return t;
}

Tensor rnd_int(const Shape& shape, uint64_t seed, int64_t lo, int64_t hi) {
  Generator g(seed);
  return randint(lo, hi, shape, Options(DType::I64), &g);
}

namespace {
// L = Σ_k Σ out_k ⊙ W_k, computed without recording a graph.
double objective(const Fn& f, const TensorList& inputs, const TensorList& weights) {
  NoGradGuard ng;
  TensorList outs = f(inputs);
  double L = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!weights[k].defined()) continue;
    std::vector<double> o = outs[k].to_vector<double>(), w = weights[k].to_vector<double>();
    for (size_t i = 0; i < o.size(); ++i) L += o[i] * w[i];
  }
  return L;
}
}  // namespace

GradcheckResult gradcheck(const Fn& f, const TensorList& inputs, uint64_t seed) {
  for (const Tensor& t : inputs) {
    if (!t.defined() || !t.requires_grad()) continue;
    EMBER_CHECK(t.dtype() == DType::F64 && t.is_leaf() && t.is_contiguous(),
                "gradcheck: inputs that require grad must be contiguous float64 leaves");
  }
  for (const Tensor& t : inputs)
    if (t.defined()) const_cast<Tensor&>(t).zero_grad();

  // Analytic: backward of L, i.e. backward of each output with grad W_k.
  TensorList outs = f(inputs);
  TensorList weights(outs.size());
  Generator g(seed);
  Tensor total;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (!outs[k].defined() || outs[k].dtype() != DType::F64) continue;
    weights[k] = rand(outs[k].shape(), Options(DType::F64), &g);
    double* w = weights[k].data<double>();
    for (int64_t i = 0; i < weights[k].numel(); ++i) w[i] = 2 * w[i] - 1;
    if (!outs[k].requires_grad()) continue;
    Tensor term = sum(mul(outs[k], weights[k]));
    total = total.defined() ? add(total, term) : term;
  }
  EMBER_CHECK(total.defined(), "gradcheck: no output requires grad");
  total.backward();

  GradcheckResult r;
  for (size_t j = 0; j < inputs.size(); ++j) {
    const Tensor& x = inputs[j];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor ga = x.grad();
    std::vector<double> analytic = ga.defined() ? ga.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      p[i] = orig + kEps;
      double lp = objective(f, inputs, weights);
      p[i] = orig - kEps;
      double lm = objective(f, inputs, weights);
      p[i] = orig;
      double numeric = (lp - lm) / (2 * kEps);
      double err = std::fabs(analytic[i] - numeric);
      r.max_abs_err = std::max(r.max_abs_err, err);
      ++r.checked;
      if (err > kAtol + kRtol * std::fabs(numeric) && r.ok) {
        r.ok = false;
        r.first_failure = detail::str("input ", j, " element ", i, ": analytic ", analytic[i], " vs numeric ",
                                      numeric, " (|diff| ", err, ")");
      }
    }
  }
  return r;
}

void expect_gradcheck(const char* what, const Fn& f, const TensorList& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  INFO(what, ": ", r.first_failure);
  CHECK(r.checked > 0);
  CHECK(r.ok);
  std::printf("gradcheck %-36s %s  %6lld elements  max |err| %.2e\n", what, r.ok ? "PASS" : "FAIL",
              static_cast<long long>(r.checked), r.max_abs_err);
}

}  // namespace ember::test
