// tests/test_optim.cpp — SGD, Adam, AdamW against torch.optim step for step, clip_grad_norm_,
// the lr schedules, and parameter groups.
//
// References: PyTorch 1.13 (Debian's python3-torch), float64, a 3-element parameter
// p0 = (1, -2, 0.5) and fixed gradients g_t = (0.3 + 0.1t, -0.2 + 0.1t, 0.5 - 0.1t) set
// directly before each of 3 steps. Tolerance 1e-12 absolute: the updates are the same
// operations in the same order, so only last-ulp differences (ATen's fused multiply-adds) remain.
#include <cmath>
#include <cstring>
#include <doctest/doctest.h>
#include <memory>

#include "engine/optim/optim.h"
#include "engine/ops.h"

using namespace ember;
using namespace ember::optim;

namespace {

constexpr double kTol = 1e-12;

Tensor param64(const std::vector<double>& v) {
  Tensor p = from_vector<double>(v, {static_cast<int64_t>(v.size())}, Options(DType::F64));
  p.requires_grad_(true);
  return p;
}

Tensor fixed_grad(int t) {
  return from_vector<double>({0.3 + 0.1 * t, -0.2 + 0.1 * t, 0.5 - 0.1 * t}, {3}, Options(DType::F64));
}

using Trajectory = std::vector<std::vector<double>>;

// Three steps of the optimizer that make(params) builds, with the fixed gradients.
template <class Make>
Trajectory run_three_steps(Make make) {
  Tensor p = param64({1.0, -2.0, 0.5});
  std::unique_ptr<Optimizer> opt = make(TensorList{p});
  Trajectory out;
  for (int t = 0; t < 3; ++t) {
    p.set_grad(fixed_grad(t));
    opt->step();
    out.push_back(p.to_vector<double>());
  }
  return out;
}

void check_trajectory(const Trajectory& got, const Trajectory& want) {
  REQUIRE(got.size() == want.size());
  for (size_t t = 0; t < want.size(); ++t)
    for (size_t i = 0; i < want[t].size(); ++i) {
      INFO("step ", t + 1, " element ", i, ": got ", got[t][i], " want ", want[t][i]);
      CHECK(std::fabs(got[t][i] - want[t][i]) <= kTol);
    }
}

void check_lrs(const std::vector<double>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("step ", i, ": got lr ", got[i], " want ", want[i]);
    CHECK(std::fabs(got[i] - want[i]) <= kTol);
  }
}

}  // namespace

// ---------------- update rules against torch.optim ----------------

TEST_CASE("optim: SGD with momentum, nesterov and weight decay matches torch.optim.SGD") {
  // torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
  check_trajectory(run_three_steps([](TensorList ps) { return std::make_unique<SGD>(ps, 0.1, 0.9, 0.01, true); }),
                   {{0.9411, -1.9582, 0.40405},
                    {0.83820191, -1.91765942, 0.28637730499999997},
                    {0.685848035371, -1.888291725102, 0.15929140762049995}});
}

TEST_CASE("optim: SGD with dampening matches torch.optim.SGD") {
  // torch.optim.SGD(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.01)
  check_trajectory(
      run_three_steps([](TensorList ps) { return std::make_unique<SGD>(ps, 0.1, 0.9, 0.01, false, 0.5); }),
      {{0.969, -1.978, 0.4495},
       {0.9206154999999999, -1.952211, 0.38382525},
       {0.85160914225, -1.9280247945, 0.309526062375}});
}

TEST_CASE("optim: plain SGD is p -= lr * g") {
  check_trajectory(run_three_steps([](TensorList ps) { return std::make_unique<SGD>(ps, 0.5); }),
                   {{1.0 - 0.15, -2.0 + 0.1, 0.5 - 0.25},
                    {1.0 - 0.15 - 0.2, -2.0 + 0.1 + 0.05, 0.5 - 0.25 - 0.2},
                    {1.0 - 0.15 - 0.2 - 0.25, -2.0 + 0.1 + 0.05 - 0.0, 0.5 - 0.25 - 0.2 - 0.15}});
}

TEST_CASE("optim: Adam with L2 weight decay matches torch.optim.Adam") {
  // torch.optim.Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
  check_trajectory(
      run_three_steps([](TensorList ps) { return std::make_unique<Adam>(ps, 0.01, 0.9, 0.999, 1e-8, 0.1); }),
      {{0.99000000025, -1.99000000025, 0.49000000018181816},
       {0.9800030224105833, -1.9801773550832122, 0.48010316479593207},
       {0.9699956829094635, -1.970763528904612, 0.4704213631855442}});
}

TEST_CASE("optim: AdamW with decoupled weight decay matches torch.optim.AdamW") {
  // torch.optim.AdamW(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
  check_trajectory(
      run_three_steps([](TensorList ps) { return std::make_unique<AdamW>(ps, 0.01, 0.9, 0.999, 1e-8, 0.1); }),
      {{0.9890000003333334, -1.9880000005, 0.4895000002},
       {0.9780377718364927, -1.9766902047010366, 0.4791292423768218},
       {0.9670916354935112, -1.9675077394292313, 0.46902234853830244}});
}

TEST_CASE("optim: float32 parameters follow the float64 trajectory to float precision") {
  Tensor p32 = from_vector<float>({1.0f, -2.0f, 0.5f}, {3});
  p32.requires_grad_(true);
  Adam opt(TensorList{p32}, 0.01, 0.9, 0.999, 1e-8, 0.1);
  for (int t = 0; t < 3; ++t) {
    p32.set_grad(fixed_grad(t).to(DType::F32));
    opt.step();
  }
  std::vector<float> got = p32.to_vector<float>();
  std::vector<double> want = {0.9699956829094635, -1.970763528904612, 0.4704213631855442};
  for (size_t i = 0; i < 3; ++i) CHECK(std::fabs(got[i] - want[i]) <= 1e-6);
}

// ---------------- what step() touches ----------------

TEST_CASE("optim: step skips parameters without a grad or not requiring grad, bit for bit") {
  Tensor a = param64({1.0, 2.0, 3.0}), b = param64({4.0, 5.0, 6.0}), c = param64({7.0, 8.0, 9.0});
  AdamW opt(TensorList{a, b, c}, 0.1, 0.9, 0.999, 1e-8, 0.5);  // decay would change b and c if touched
  a.set_grad(fixed_grad(0));
  c.set_grad(fixed_grad(0));
  c.requires_grad_(false);
  opt.step();
  CHECK(a.to_vector<double>() != std::vector<double>{1.0, 2.0, 3.0});
  CHECK(b.to_vector<double>() == std::vector<double>{4.0, 5.0, 6.0});
  CHECK(c.to_vector<double>() == std::vector<double>{7.0, 8.0, 9.0});
  CHECK(opt.state(0, 0).step == 1);
  CHECK(opt.state(0, 1).step == 0);
  CHECK_FALSE(opt.state(0, 1).exp_avg.defined());
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("optim: state is per parameter (Adam step counts and moments)") {
  Tensor a = param64({1.0, 2.0, 3.0}), b = param64({1.0, 2.0, 3.0});
  Adam opt(TensorList{a, b}, 0.01);
  a.set_grad(fixed_grad(0));
  opt.step();  // a: step 1
  a.set_grad(fixed_grad(1));
  b.set_grad(fixed_grad(0));
  opt.step();  // a: step 2, b: step 1
  CHECK(opt.state(0, 0).step == 2);
  CHECK(opt.state(0, 1).step == 1);
  // b's first update equals a's first update (same start, same grad, own state).
  Tensor a1 = param64({1.0, 2.0, 3.0});
  Adam fresh(TensorList{a1}, 0.01);
  a1.set_grad(fixed_grad(0));
  fresh.step();
  CHECK(b.to_vector<double>() == a1.to_vector<double>());
  std::vector<double> m = opt.state(0, 1).exp_avg.to_vector<double>();
  CHECK(std::fabs(m[0] - 0.1 * 0.3) <= kTol);
}

TEST_CASE("optim: parameter groups with two learning rates (extractor and head)") {
  Tensor feat = param64({1.0, 1.0, 1.0}), head = param64({1.0, 1.0, 1.0});
  ParamGroup proto;
  proto.momentum = 0.9;
  ParamGroup g_feat = proto, g_head = proto;
  g_feat.params = {feat};
  g_feat.lr = 0.01;
  g_head.params = {head};
  g_head.lr = 0.1;
  SGD opt({g_feat, g_head});
  for (int t = 0; t < 2; ++t) {
    feat.set_grad(ones({3}, Options(DType::F64)));
    head.set_grad(ones({3}, Options(DType::F64)));
    opt.step();
  }
  // buf_1 = 1, buf_2 = 0.9 + 1 = 1.9: p = 1 - lr·(1 + 1.9).
  for (double v : feat.to_vector<double>()) CHECK(std::fabs(v - (1 - 0.01 * 2.9)) <= kTol);
  for (double v : head.to_vector<double>()) CHECK(std::fabs(v - (1 - 0.1 * 2.9)) <= kTol);
  CHECK(opt.param_groups().size() == 2);
}

TEST_CASE("optim: invalid options and duplicate parameters are rejected") {
  Tensor p = param64({1.0});
  CHECK_THROWS_AS(SGD(TensorList{p}, 0.1, 0.0, 0.0, true), Error);  // nesterov without momentum
  CHECK_THROWS_AS(SGD(TensorList{p}, -1.0), Error);
  CHECK_THROWS_AS(Adam(TensorList{p}, 0.1, 1.0), Error);
  CHECK_THROWS_AS(SGD(TensorList{p, p}, 0.1), Error);
  SGD opt(TensorList{p}, 0.1);
  ParamGroup again;
  again.params = {p};
  CHECK_THROWS_AS(opt.add_param_group(again), Error);
}

// ---------------- clipping ----------------

TEST_CASE("optim: clip_grad_norm_ returns the global L2 norm and scales as torch does") {
  Tensor a = param64({3.0, 4.0}), b = param64({1.0}), c = param64({2.0});
  a.set_grad(from_vector<double>({3.0, 4.0}, {2}, Options(DType::F64)));
  b.set_grad(from_vector<double>({12.0}, {1}, Options(DType::F64)));  // c has no grad: ignored
  double total = clip_grad_norm_({a, b, c}, 6.5);
  CHECK(total == doctest::Approx(13.0).epsilon(1e-15));
  // torch.nn.utils.clip_grad_norm_: grads · 6.5 / (13 + 1e-6)
  std::vector<double> ga = a.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
  CHECK(std::fabs(ga[0] - 1.4999998846153937) <= kTol);
  CHECK(std::fabs(ga[1] - 1.9999998461538582) <= kTol);
  CHECK(std::fabs(gb[0] - 5.999999538461575) <= kTol);
  CHECK_FALSE(c.grad().defined());

  // Below the threshold: returned norm, grads untouched.
  double total2 = clip_grad_norm_({a, b}, 100.0);
  CHECK(std::fabs(total2 - 6.5 * 13.0 / (13.0 + 1e-6)) <= 1e-12);
  CHECK(a.grad().to_vector<double>() == ga);
}

// ---------------- schedules ----------------

namespace {
template <class MakeSched>
std::vector<double> lr_sequence(MakeSched make, int steps, double lr = 0.1) {
  Tensor p = param64({0.0});
  SGD opt(TensorList{p}, lr);
  auto sched = make(opt);
  std::vector<double> lrs{opt.param_groups()[0].lr};
  for (int i = 0; i < steps; ++i) {
    sched.step();
    lrs.push_back(opt.param_groups()[0].lr);
  }
  return lrs;
}
}  // namespace

TEST_CASE("optim: StepLR sequence matches torch") {
  check_lrs(lr_sequence([](Optimizer& o) { return StepLR(o, 3, 0.5); }, 8),
            {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025});
}

TEST_CASE("optim: CosineAnnealingLR sequence matches torch") {
  check_lrs(lr_sequence([](Optimizer& o) { return CosineAnnealingLR(o, 5, 0.01); }, 5),
            {0.1, 0.09140576474687263, 0.06890576474687263, 0.04109423525312736, 0.018594235253127367, 0.01});
}

TEST_CASE("optim: LinearWarmupDecay warms up linearly then decays linearly to zero") {
  // warm-up 2 steps, 6 in all (Hugging Face's get_linear_schedule_with_warmup)
  check_lrs(lr_sequence([](Optimizer& o) { return LinearWarmupDecay(o, 2, 6); }, 7),
            {0.0, 0.05, 0.1, 0.075, 0.05, 0.025, 0.0, 0.0});
}

TEST_CASE("optim: set_last_step jumps a schedule to a step (a resumed run), bit for bit, and refuses < 0") {
  std::vector<double> stepped = lr_sequence([](Optimizer& o) { return LinearWarmupDecay(o, 2, 6); }, 7);
  for (int s = 0; s <= 7; ++s) {
    Tensor p = param64({0.0});
    SGD opt(TensorList{p}, 0.1);
    LinearWarmupDecay sched(opt, 2, 6);
    sched.set_last_step(s);
    CHECK(sched.last_step() == s);
    CHECK(opt.param_groups()[0].lr == stepped[s]);  // the same double, not merely close
  }
  Tensor p = param64({0.0});
  SGD opt(TensorList{p}, 0.1);
  StepLR sched(opt, 3, 0.5);
  CHECK_THROWS_WITH(sched.set_last_step(-1), doctest::Contains("must be >= 0"));
}

TEST_CASE("optim: schedules scale each group's own base lr") {
  Tensor a = param64({0.0}), b = param64({0.0});
  ParamGroup ga, gb;
  ga.params = {a};
  ga.lr = 0.1;
  gb.params = {b};
  gb.lr = 0.01;
  SGD opt({ga, gb});
  StepLR sched(opt, 1, 0.5);
  sched.step();
  sched.step();
  std::vector<double> lrs = sched.last_lr();
  CHECK(std::fabs(lrs[0] - 0.025) <= kTol);
  CHECK(std::fabs(lrs[1] - 0.0025) <= kTol);
  CHECK(opt.param_groups()[0].initial_lr == 0.1);
  CHECK(sched.last_step() == 2);
}

TEST_CASE("optim: state_dict / load_state_dict resume AdamW and SGD momentum bit for bit, and refuse a mismatch") {
  auto run = [](bool adam, int steps_before, int steps_after) {
    Tensor p = param64({1.0, -2.0, 0.5}), q = param64({0.25});
    auto make = [&](TensorList ps) -> std::unique_ptr<Optimizer> {
      if (adam) return std::make_unique<AdamW>(ps, 0.01, 0.9, 0.999, 1e-8, 0.1);
      return std::make_unique<SGD>(ps, 0.1, 0.9, 0.01, true);
    };
    std::unique_ptr<Optimizer> opt = make({p, q});
    auto step = [&](Optimizer& o, int t) {
      if (t == 2) o.param_groups()[0].lr *= 0.5;  // a schedule moved the lr: it is part of the state
      p.set_grad(fixed_grad(t));
      if (t % 2 == 0) q.set_grad(from_vector<double>({0.1 * t}, {1}, Options(DType::F64)));  // q: every other step
      else q.zero_grad();
      o.step();
    };
    for (int t = 0; t < steps_before; ++t) step(*opt, t);
    auto saved = opt->state_dict();
    std::unique_ptr<Optimizer> fresh = make({p, q});
    fresh->load_state_dict(saved);
    for (int t = steps_before; t < steps_before + steps_after; ++t) step(*fresh, t);
    std::vector<double> out(p.data<double>(), p.data<double>() + 3);
    out.push_back(q.data<double>()[0]);
    return std::make_pair(out, fresh->state_dict());
  };
  for (bool adam : {true, false}) {
    CAPTURE(adam);
    // Interrupted after 3 steps and resumed for 2 vs. "resumed" after 5 with nothing left: same bits.
    auto [a, sa] = run(adam, 3, 2);
    auto [b, sb] = run(adam, 5, 0);
    CHECK(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::memcmp(&a[i], &b[i], sizeof(double)) == 0);
    CHECK(sa.size() == sb.size());
  }
  Tensor p = param64({1.0, -2.0, 0.5});
  AdamW opt({p}, 0.01);
  p.set_grad(fixed_grad(0));
  opt.step();
  auto st = opt.state_dict();
  Tensor other = param64({1.0, 2.0});
  AdamW wrong({other}, 0.01);
  CHECK_THROWS_WITH_AS(wrong.load_state_dict(st), doctest::Contains("0.0.exp_avg' is float64 [3] but parameter 0 of group 0 is float64 [2]"), Error);
  st.emplace_back("0.7.exp_avg", zeros({3}, Options(DType::F64)));
  AdamW again({param64({1.0, -2.0, 0.5})}, 0.01);
  CHECK_THROWS_WITH_AS(again.load_state_dict(st), doctest::Contains("names parameter 7 of group 0, which has 1"), Error);
  CHECK_THROWS_WITH_AS(again.load_state_dict({{"0.0.bogus", zeros({3}, Options(DType::F64))}}),
                       doctest::Contains("unknown field 'bogus'"), Error);
}
