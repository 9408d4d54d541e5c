// optim.cpp — SGD, Adam, AdamW, clip_grad_norm_ and the lr schedules (see optim.h).
//
// The element-wise update rules mirror torch.optim's single-tensor implementations (PyTorch
// 1.13) operation for operation: the same products and sums in the same order, with the
// hyper-parameters rounded to the parameter's type as ATen does, so float64 runs agree to
// the last few ulps.
#include "engine/optim/optim.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <unordered_set>

#include "engine/ops.h"

namespace ember::optim {

// ---------------- the update math ----------------
namespace cpu {

constexpr int64_t kUpdateParallelGrain = 1 << 16;  // below this many elements one core is faster

template <class T>
void sgd_update(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first_step) {
  const T neg_lr = static_cast<T>(-lr), mu = static_cast<T>(momentum), keep = static_cast<T>(1 - dampening),
          wd = static_cast<T>(weight_decay);
  // The options are fixed for the whole loop, so each combination is its own loop without
  // branches (the compiler vectorises it); per element the operations are those of torch.optim.SGD.
  auto run = [&](auto wd_c, auto momentum_c, auto nesterov_c, auto first_c) {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      T d = g[i];
      if constexpr (decltype(wd_c)::value) d = d + wd * p[i];
      if constexpr (decltype(momentum_c)::value) {
        const T b = decltype(first_c)::value ? d : buf[i] * mu + keep * d;
        buf[i] = b;
        d = decltype(nesterov_c)::value ? d + mu * b : b;
      }
      p[i] = p[i] + neg_lr * d;
    }
  };
  using Y = std::true_type;
  using N = std::false_type;
  auto with_wd = [&](auto wd_c) {
    if (momentum == 0) run(wd_c, N{}, N{}, N{});
    else if (nesterov) first_step ? run(wd_c, Y{}, Y{}, Y{}) : run(wd_c, Y{}, Y{}, N{});
    else first_step ? run(wd_c, Y{}, N{}, Y{}) : run(wd_c, Y{}, N{}, N{});
  };
  if (weight_decay != 0) with_wd(Y{});
  else with_wd(N{});
}

template <class T>
void adam_update(T* p, const T* g, T* exp_avg, T* exp_avg_sq, int64_t n, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, int64_t step) {
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  const T neg_step_size = static_cast<T>(-(lr / bias_correction1));
  const T bc2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const T one_minus_b1 = static_cast<T>(1 - beta1), one_minus_b2 = static_cast<T>(1 - beta2);
  const T e = static_cast<T>(eps), wd = static_cast<T>(weight_decay);
  const T decay = static_cast<T>(1 - lr * weight_decay);
  // The same operations per element in the same order as before; the loop is only split over the
  // cores and vectorised (every element is independent), so results do not change.
  auto run = [&](auto decoupled_c, auto l2_c) {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      T pi = p[i];
      T gi = g[i];
      if constexpr (decltype(decoupled_c)::value) pi = pi * decay;  // AdamW: p.mul_(1 - lr·wd)
      if constexpr (decltype(l2_c)::value) gi = gi + wd * pi;        // Adam: L2 in the gradient
      T m = exp_avg[i] * b1 + one_minus_b1 * gi;
      T v = exp_avg_sq[i] * b2 + one_minus_b2 * (gi * gi);
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      T denom = std::sqrt(v) / bc2_sqrt + e;
      p[i] = pi + neg_step_size * (m / denom);
    }
  };
  if (decoupled) run(std::true_type{}, std::false_type{});
  else if (weight_decay != 0) run(std::false_type{}, std::true_type{});
  else run(std::false_type{}, std::false_type{});
}

template void sgd_update<float>(float*, const float*, float*, int64_t, double, double, double, double, bool, bool);
template void sgd_update<double>(double*, const double*, double*, int64_t, double, double, double, double, bool,
                                 bool);
template void adam_update<float>(float*, const float*, float*, float*, int64_t, double, double, double, double,
                                 double, bool, int64_t);
template void adam_update<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                  double, bool, int64_t);

}  // namespace cpu

// ---------------- Optimizer ----------------

Optimizer::Optimizer(std::vector<ParamGroup> groups) {
  for (auto& g : groups) add_param_group_unchecked(std::move(g));
}

void Optimizer::add_param_group_unchecked(ParamGroup group) {
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& g : groups_)
    for (const Tensor& p : g.params) seen.insert(p.impl().get());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    EMBER_CHECK(p.defined(), "optimizer: parameter ", i, " of group ", groups_.size(), " is undefined");
    EMBER_CHECK(p.is_leaf(), "optimizer: parameter ", i, " of group ", groups_.size(),
                " is not a leaf (made by an op); optimizers update leaves only");
    EMBER_CHECK(is_floating(p.dtype()), "optimizer: parameter ", i, " of group ", groups_.size(),
                " must be floating, got ", p.dtype());
    EMBER_CHECK(seen.insert(p.impl().get()).second, "optimizer: parameter ", i, " of group ", groups_.size(),
                " appears twice (in this group or an earlier one)");
  }
  state_.emplace_back(group.params.size());
  groups_.push_back(std::move(group));
}

void Optimizer::add_param_group(ParamGroup group) {
  validate(group);
  add_param_group_unchecked(std::move(group));
}

void Optimizer::validate_all() const {
  for (const auto& g : groups_) validate(g);
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (Tensor& p : g.params) p.zero_grad();
}

void Optimizer::for_each_update(
    const std::function<void(const ParamGroup&, ParamState&, Tensor&, const Tensor&)>& f) {
  NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& group = groups_[gi];
    for (size_t pi = 0; pi < group.params.size(); ++pi) {
      Tensor& p = group.params[pi];
      Tensor g = p.grad();
      if (!p.requires_grad() || !g.defined()) continue;
      EMBER_CHECK(p.device().is_cpu(), name(), ": parameter ", pi, " of group ", gi, " is on ", p.device(),
                  "; the optimizers run on CPU parameters only for now");
      EMBER_CHECK(p.dtype() == DType::F32 || p.dtype() == DType::F64, name(), ": parameter ", pi, " of group ", gi,
                  " must be float32 or float64, got ", p.dtype());
      EMBER_CHECK(p.is_contiguous(), name(), ": parameter ", pi, " of group ", gi, " must be contiguous");
      EMBER_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype(), name(), ": the grad of parameter ", pi,
                  " of group ", gi, " is ", g.dtype(), " ", g.shape(), " but the parameter is ", p.dtype(), " ",
                  p.shape());
      if (!g.is_contiguous()) g = g.contiguous();
      ParamState& st = state_[gi][pi];
      for (const Tensor* s : {&st.momentum_buffer, &st.exp_avg, &st.exp_avg_sq})
        EMBER_CHECK(!s->defined() || s->dtype() == p.dtype(), name(), ": parameter ", pi, " of group ", gi,
                    " is now ", p.dtype(), " but its optimizer state is ", s->dtype(),
                    " (convert the model before building the optimizer)");
      f(group, st, p, g);
    }
  }
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const std::string g = std::to_string(gi);
    out.emplace_back(g + ".lr", from_vector<double>({groups_[gi].lr}, {1}));
    for (size_t pi = 0; pi < state_[gi].size(); ++pi) {
      const ParamState& st = state_[gi][pi];
      if (st.step == 0) continue;
      const std::string k = g + "." + std::to_string(pi) + ".";
      out.emplace_back(k + "step", from_vector<int64_t>({st.step}, {1}));
      if (st.momentum_buffer.defined()) out.emplace_back(k + "momentum_buffer", st.momentum_buffer.to(Device::cpu()).clone());
      if (st.exp_avg.defined()) out.emplace_back(k + "exp_avg", st.exp_avg.to(Device::cpu()).clone());
      if (st.exp_avg_sq.defined()) out.emplace_back(k + "exp_avg_sq", st.exp_avg_sq.to(Device::cpu()).clone());
    }
  }
  return out;
}

void Optimizer::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  std::vector<std::vector<ParamState>> fresh(groups_.size());
  std::vector<double> lrs(groups_.size(), -1);
  for (size_t gi = 0; gi < groups_.size(); ++gi) fresh[gi].resize(groups_[gi].params.size());
  for (const auto& [key, t] : state) {
    // GROUP.lr or GROUP.INDEX.FIELD
    const size_t d1 = key.find('.');
    EMBER_CHECK(d1 != std::string::npos && d1 > 0 && d1 < 10 && key.find_first_not_of("0123456789") == d1, name(),
                ": optimizer state entry '", key, "' is not GROUP.lr or GROUP.INDEX.FIELD");
    const size_t gi = std::stoul(key.substr(0, d1));
    EMBER_CHECK(gi < groups_.size(), name(), ": optimizer state entry '", key, "' names group ", gi, " but there are ",
                groups_.size());
    const std::string rest = key.substr(d1 + 1);
    if (rest == "lr") {
      EMBER_CHECK(t.dtype() == DType::F64 && t.numel() == 1, name(), ": '", key, "' must be one float64");
      lrs[gi] = t.contiguous().data<double>()[0];
      continue;
    }
    const size_t d2 = rest.find('.');
    EMBER_CHECK(d2 != std::string::npos && d2 > 0 && d2 < 10 && rest.find_first_not_of("0123456789") == d2, name(),
                ": optimizer state entry '", key, "' is not GROUP.INDEX.FIELD");
    const size_t pi = std::stoul(rest.substr(0, d2));
    const std::string field = rest.substr(d2 + 1);
    EMBER_CHECK(pi < groups_[gi].params.size(), name(), ": optimizer state entry '", key, "' names parameter ", pi,
                " of group ", gi, ", which has ", groups_[gi].params.size());
    const Tensor& p = groups_[gi].params[pi];
    ParamState& st = fresh[gi][pi];
    if (field == "step") {
      EMBER_CHECK(t.dtype() == DType::I64 && t.numel() == 1, name(), ": '", key, "' must be one int64");
      st.step = t.contiguous().data<int64_t>()[0];
      EMBER_CHECK(st.step > 0, name(), ": '", key, "' = ", st.step, ", expected a positive step count");
      continue;
    }
    Tensor* slot = field == "momentum_buffer" ? &st.momentum_buffer
                   : field == "exp_avg"       ? &st.exp_avg
                   : field == "exp_avg_sq"    ? &st.exp_avg_sq
                                              : nullptr;
    EMBER_CHECK(slot != nullptr, name(), ": optimizer state entry '", key, "': unknown field '", field,
                "' (expected step, momentum_buffer, exp_avg, exp_avg_sq)");
    EMBER_CHECK(t.shape() == p.shape() && t.dtype() == p.dtype(), name(), ": '", key, "' is ", t.dtype(), " ",
                t.shape(), " but parameter ", pi, " of group ", gi, " is ", p.dtype(), " ", p.shape());
    *slot = t.to(p.device()).clone();
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    EMBER_CHECK(lrs[gi] > 0, name(), ": the optimizer state has no lr for group ", gi);
    for (size_t pi = 0; pi < fresh[gi].size(); ++pi) {
      const ParamState& st = fresh[gi][pi];
      const bool any = st.momentum_buffer.defined() || st.exp_avg.defined() || st.exp_avg_sq.defined();
      EMBER_CHECK(st.step > 0 || !any, name(), ": parameter ", pi, " of group ", gi, " has state but no step count");
    }
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].lr = lrs[gi];
  state_ = std::move(fresh);
}

// ---------------- SGD ----------------

SGD::SGD(std::vector<ParamGroup> groups) : Optimizer(std::move(groups)) { validate_all(); }

SGD::SGD(TensorList params, double lr, double momentum, double weight_decay, bool nesterov, double dampening)
    : SGD([&] {
        ParamGroup g;
        g.params = std::move(params);
        g.lr = lr;
        g.momentum = momentum;
        g.weight_decay = weight_decay;
        g.nesterov = nesterov;
        g.dampening = dampening;
        return std::vector<ParamGroup>{g};
      }()) {}

void SGD::validate(const ParamGroup& g) const {
  EMBER_CHECK(g.lr >= 0, "SGD: invalid learning rate ", g.lr);
  EMBER_CHECK(g.momentum >= 0, "SGD: invalid momentum ", g.momentum);
  EMBER_CHECK(g.weight_decay >= 0, "SGD: invalid weight_decay ", g.weight_decay);
  EMBER_CHECK(!g.nesterov || (g.momentum > 0 && g.dampening == 0),
              "SGD: nesterov momentum requires a momentum > 0 and zero dampening, got momentum ", g.momentum,
              " dampening ", g.dampening);
}

void SGD::step() {
  for_each_update([](const ParamGroup& group, ParamState& st, Tensor& p, const Tensor& g) {
    bool first = false;
    if (group.momentum != 0 && !st.momentum_buffer.defined()) {
      st.momentum_buffer = empty_like(p);
      first = true;
    }
    ++st.step;
    EMBER_DISPATCH_FLOAT(p.dtype(), "SGD", [&] {
      scalar_t* buf = group.momentum != 0 ? st.momentum_buffer.data<scalar_t>() : nullptr;
      cpu::sgd_update<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), buf, p.numel(), group.lr, group.momentum,
                                group.dampening, group.weight_decay, group.nesterov, first);
    });
  });
}

// ---------------- Adam, AdamW ----------------

namespace {
std::vector<ParamGroup> adam_group(TensorList params, double lr, double beta1, double beta2, double eps,
                                   double weight_decay) {
  ParamGroup g;
  g.params = std::move(params);
  g.lr = lr;
  g.beta1 = beta1;
  g.beta2 = beta2;
  g.eps = eps;
  g.weight_decay = weight_decay;
  return {g};
}
}  // namespace

Adam::Adam(std::vector<ParamGroup> groups) : Optimizer(std::move(groups)) { validate_all(); }

Adam::Adam(TensorList params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Adam(adam_group(std::move(params), lr, beta1, beta2, eps, weight_decay)) {}

void Adam::validate(const ParamGroup& g) const {
  EMBER_CHECK(g.lr >= 0, name(), ": invalid learning rate ", g.lr);
  EMBER_CHECK(g.eps >= 0, name(), ": invalid eps ", g.eps);
  EMBER_CHECK(g.beta1 >= 0 && g.beta1 < 1 && g.beta2 >= 0 && g.beta2 < 1, name(),
              ": betas must be in [0, 1), got (", g.beta1, ", ", g.beta2, ")");
  EMBER_CHECK(g.weight_decay >= 0, name(), ": invalid weight_decay ", g.weight_decay);
}

void Adam::step() {
  const bool decoupled = decoupled_weight_decay_;
  for_each_update([decoupled](const ParamGroup& group, ParamState& st, Tensor& p, const Tensor& g) {
    if (!st.exp_avg.defined()) {
      st.exp_avg = zeros_like(p);
      st.exp_avg_sq = zeros_like(p);
    }
    ++st.step;
    EMBER_DISPATCH_FLOAT(p.dtype(), "Adam", [&] {
      cpu::adam_update<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), st.exp_avg.data<scalar_t>(),
                                 st.exp_avg_sq.data<scalar_t>(), p.numel(), group.lr, group.beta1, group.beta2,
                                 group.eps, group.weight_decay, decoupled, st.step);
    });
  });
}

AdamW::AdamW(std::vector<ParamGroup> groups) : Adam(std::move(groups)) { decoupled_weight_decay_ = true; }

AdamW::AdamW(TensorList params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : AdamW(adam_group(std::move(params), lr, beta1, beta2, eps, weight_decay)) {}

// ---------------- clipping ----------------

double clip_grad_norm_(const TensorList& params, double max_norm) {
  NoGradGuard ng;
  TensorList grads;
  for (const Tensor& p : params)
    if (p.defined() && p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  double total_sq = 0;
  for (const Tensor& g : grads) total_sq += sum(mul(g, g)).item();
  const double total = std::sqrt(total_sq);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    for (Tensor& g : grads) {
      Tensor scaled = mul_scalar(g, coef);
      copy_(g, scaled);  // g aliases the parameter's .grad
    }
  }
  return total;
}

// ---------------- schedules ----------------

LrScheduler::LrScheduler(Optimizer& optimizer, Rule rule) : optimizer_(optimizer), rule_(std::move(rule)) {
  for (auto& g : optimizer_.param_groups())
    if (g.initial_lr < 0) g.initial_lr = g.lr;
  apply();
}

void LrScheduler::step() {
  ++step_;
  apply();
}

void LrScheduler::set_last_step(int64_t step) {
  EMBER_CHECK(step >= 0, "LrScheduler::set_last_step: the step must be >= 0, got ", step);
  step_ = step;
  apply();
}

void LrScheduler::apply() {
  for (auto& g : optimizer_.param_groups()) g.lr = rule_(g.initial_lr, step_);
}

std::vector<double> LrScheduler::last_lr() const {
  std::vector<double> out;
  for (const auto& g : optimizer_.param_groups()) out.push_back(g.lr);
  return out;
}

namespace {
constexpr double kPi = 3.14159265358979323846;

LrScheduler::Rule step_rule(int64_t step_size, double gamma) {
  EMBER_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  return [=](double base, int64_t step) { return base * std::pow(gamma, static_cast<double>(step / step_size)); };
}

LrScheduler::Rule cosine_rule(int64_t t_max, double eta_min) {
  EMBER_CHECK(t_max > 0, "CosineAnnealingLR: T_max must be positive, got ", t_max);
  return [=](double base, int64_t step) {
    return eta_min + (base - eta_min) * (1 + std::cos(kPi * static_cast<double>(step) / static_cast<double>(t_max))) / 2;
  };
}

LrScheduler::Rule warmup_decay_rule(int64_t warmup, int64_t total) {
  EMBER_CHECK(warmup >= 0 && total > 0 && warmup <= total,
              "LinearWarmupDecay: expected 0 <= warmup_steps <= total_steps and total_steps > 0, got warmup ", warmup,
              " total ", total);
  return [=](double base, int64_t step) {
    if (step < warmup) return base * (static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup)));
    double left = static_cast<double>(total - step) / static_cast<double>(std::max<int64_t>(1, total - warmup));
    return base * std::max(0.0, left);
  };
}
}  // namespace

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LrScheduler(optimizer, step_rule(step_size, gamma)) {}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min)
    : LrScheduler(optimizer, cosine_rule(t_max, eta_min)) {}

LinearWarmupDecay::LinearWarmupDecay(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps)
    : LrScheduler(optimizer, warmup_decay_rule(warmup_steps, total_steps)) {}

}  // namespace ember::optim
