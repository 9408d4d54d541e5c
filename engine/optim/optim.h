// optim.h — optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules,
// with torch.optim's update rules exactly, so a run here and the same run in PyTorch agree
// step for step.
//
// An Optimizer holds parameter groups, each with its own lr and weight decay (a pretrained
// feature extractor at 1e-4 beside a fresh head at 1e-2), and per-parameter state (momentum
// buffer, Adam moments, step count). step() reads each parameter's .grad and updates the
// parameter in place, without autograd; parameters without a grad or not requiring grad are
// left untouched bit for bit (a frozen extractor stays frozen).
//
// The update math is in the raw-pointer functions of namespace cpu below (one element per
// loop iteration, no cross-element dependence), so a CUDA kernel can mirror them line for line.
// Only CPU parameters are supported for now; step() says so on CUDA ones.
#pragma once

#include <functional>
#include <vector>

#include "engine/autograd.h"
#include "engine/tensor.h"

namespace ember::optim {

// One parameter group: its parameters and every option any optimizer reads (each optimizer
// ignores the others). Copy a prototype group to give several groups the same options.
struct ParamGroup {
  TensorList params;
  double lr = 1e-3;
  double weight_decay = 0;  // SGD, Adam: L2 added to the gradient; AdamW: decoupled
  // SGD
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
  // Adam, AdamW
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // The base lr that schedules scale (PyTorch's initial_lr); < 0 until a scheduler sets it
  // from lr.
  double initial_lr = -1;
};

// Per-parameter state, created at a parameter's first update.
struct ParamState {
  int64_t step = 0;            // updates applied
  Tensor momentum_buffer;      // SGD with momentum
  Tensor exp_avg, exp_avg_sq;  // Adam, AdamW: first and second moments
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual const char* name() const = 0;
  // One update of every parameter that requires grad and has a grad.
  virtual void step() = 0;
  // Every parameter's grad back to undefined (PyTorch's set_to_none=True).
  void zero_grad();
  void add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const ParamState& state(size_t group, size_t index) const { return state_.at(group).at(index); }

  // Checkpoints that resume exactly: every parameter's state as named CPU tensors,
  // "GROUP.INDEX.step" (int64 scalar), ".momentum_buffer", ".exp_avg", ".exp_avg_sq" (those
  // defined), and each group's lr as "GROUP.lr" (float64 scalar). load_state_dict wants the same
  // parameter layout and checks every name, shape and dtype against it; a parameter the saved
  // optimizer never updated has no entries and starts fresh.
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 protected:
  // Checks one group's options (called for every group by the derived constructors and by
  // add_param_group).
  virtual void validate(const ParamGroup& group) const = 0;
  void validate_all() const;
  // f(group, state, param, grad) for every parameter to update, after checking that the
  // parameter is a contiguous float32/float64 CPU tensor and the grad matches it.
  void for_each_update(const std::function<void(const ParamGroup&, ParamState&, Tensor&, const Tensor&)>& f);

  std::vector<ParamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][index in group]

 private:
  void add_param_group_unchecked(ParamGroup group);  // structural checks only (leaves, no duplicates)
};

// torch.optim.SGD: d = g + wd·p; with momentum, buf = μ·buf + (1−dampening)·d (buf = d on the
// first step) and d = nesterov ? d + μ·buf : buf; then p −= lr·d.
class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<ParamGroup> groups);
  SGD(TensorList params, double lr, double momentum = 0, double weight_decay = 0, bool nesterov = false,
      double dampening = 0);
  const char* name() const override { return "SGD"; }
  void step() override;

 protected:
  void validate(const ParamGroup& group) const override;
};

// torch.optim.Adam (amsgrad=False): g += wd·p (L2); m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
// p −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<ParamGroup> groups);
  Adam(TensorList params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0);
  const char* name() const override { return "Adam"; }
  void step() override;

 protected:
  void validate(const ParamGroup& group) const override;
  bool decoupled_weight_decay_ = false;
};

// torch.optim.AdamW: p −= lr·wd·p, then Adam's update without L2. Note PyTorch's default
// weight_decay of 1e-2 applies to the params constructor; a ParamGroup's default is 0.
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<ParamGroup> groups);
  AdamW(TensorList params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2);
  const char* name() const override { return "AdamW"; }
};

// torch.nn.utils.clip_grad_norm_ (L2): total = ‖(‖g_1‖, …, ‖g_n‖)‖ over the defined grads;
// when max_norm/(total + 1e-6) < 1 every grad is scaled by it in place. Returns total.
double clip_grad_norm_(const TensorList& params, double max_norm);

// ---------------- learning-rate schedules ----------------

// Sets every group's lr to rule(initial_lr, step). Constructing applies step 0 (as PyTorch's
// schedulers do); each step() advances one step. A group's initial_lr is taken from its lr
// the first time a scheduler sees it.
class LrScheduler {
 public:
  using Rule = std::function<double(double base_lr, int64_t step)>;
  LrScheduler(Optimizer& optimizer, Rule rule);
  virtual ~LrScheduler() = default;
  void step();
  int64_t last_step() const { return step_; }
  // Jumps to `step` (a resumed run): every group's lr becomes the rule's value there.
  void set_last_step(int64_t step);
  std::vector<double> last_lr() const;

 private:
  void apply();
  Optimizer& optimizer_;
  Rule rule_;
  int64_t step_ = 0;
};

// lr = base · gamma^⌊step / step_size⌋  (torch.optim.lr_scheduler.StepLR)
class StepLR : public LrScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
};

// lr = eta_min + (base − eta_min)·(1 + cos(π·step/T_max))/2  (CosineAnnealingLR's closed form)
class CosineAnnealingLR : public LrScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t t_max, double eta_min = 0);
};

// Linear warm-up from 0 to base over warmup_steps, then linear decay to 0 at total_steps and 0
// after (Hugging Face's get_linear_schedule_with_warmup, as BERT fine-tuning uses).
class LinearWarmupDecay : public LrScheduler {
 public:
  LinearWarmupDecay(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps);
};

// ---------------- the update math on raw pointers (float and double) ----------------
namespace cpu {

// p, g, buf: n elements. buf may be null when momentum == 0. first_step: buf = d.
template <class T>
void sgd_update(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double dampening,
                double weight_decay, bool nesterov, bool first_step);

// step: the 1-based count including this update. decoupled: AdamW's weight decay.
template <class T>
void adam_update(T* p, const T* g, T* exp_avg, T* exp_avg_sq, int64_t n, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, int64_t step);

}  // namespace cpu

}  // namespace ember::optim
