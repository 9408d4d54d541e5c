// layers.h — the nn layers ember's models are built from, with PyTorch's parameter names,
// shapes and default initialisation, so that torch.nn state_dicts load into them by name.
//
// Each layer's forward is one op (or a short sequence) from engine/ops.h; the layers add
// only the parameters, the buffers and the train/eval switch. Initialisation draws from the
// Generator given to the constructor, or from the default generator (seed it with
// ember::manual_seed for reproducible runs).
#pragma once

#include <functional>
#include <initializer_list>

#include "engine/nn/module.h"
#include "engine/ops.h"

namespace ember::nn {

// y = x·Wᵀ + b. x (..., in) → (..., out). weight (out, in), bias (out).
// Init (torch.nn.Linear): both U(-1/√in, 1/√in).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  std::string type_name() const override { return "Linear"; }
  Tensor forward(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 private:
  Tensor weight_, bias_;
};

// x (N, in, H, W) → (N, out, H', W'). weight (out, in, kh, kw), bias (out).
// Init (torch.nn.Conv2d): both U(-1/√fan_in, 1/√fan_in), fan_in = in·kh·kw.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, Pair2 kernel_size, Pair2 stride = 1, Pair2 padding = 0,
         Pair2 dilation = 1, bool bias = true, Generator* gen = nullptr);
  std::string type_name() const override { return "Conv2d"; }
  Tensor forward(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Tensor weight_, bias_;
  Pair2 stride_, padding_, dilation_;
};

// x (N, C, H, W). Parameters weight (C) = 1, bias (C) = 0; buffers running_mean (C) = 0,
// running_var (C) = 1, num_batches_tracked (int64 scalar) counting training forwards.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  std::string type_name() const override { return "BatchNorm2d"; }
  Tensor forward(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

 private:
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
  double eps_, momentum_;
};

// Normalises the last normalized_shape.size() dims. weight = 1, bias = 0, of normalized_shape.
// LayerNorm(768, 1e-12) for one dim; spell a multi-dim shape as Shape{2, 3} (a bare {2, 3}
// would also read as (size 2, eps 3)).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(Shape{normalized_size}, eps, elementwise_affine) {}
  std::string type_name() const override { return "LayerNorm"; }
  Tensor forward(const Tensor& x) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Shape normalized_shape_;
  Tensor weight_, bias_;
  double eps_;
};

// ids (any shape, int) → (*ids.shape, dim). weight (num, dim) ~ N(0, 1), row padding_idx
// zeroed and never updated by backward. padding_idx = -1: none.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx = -1, Generator* gen = nullptr);
  std::string type_name() const override { return "Embedding"; }
  Tensor forward(const Tensor& ids) override;
  const Tensor& weight() const { return weight_; }

 private:
  Tensor weight_;
  int64_t padding_idx_;
};

// Inverted dropout while training, identity in eval.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  std::string type_name() const override { return "Dropout"; }
  Tensor forward(const Tensor& x) override;

 private:
  double p_;
  Generator* gen_;
};

// A parameter-free function as a module (activations inside a Sequential).
class Functional : public Module {
 public:
  explicit Functional(std::function<Tensor(const Tensor&)> f, std::string name = "Functional")
      : f_(std::move(f)), name_(std::move(name)) {}
  std::string type_name() const override { return name_; }
  Tensor forward(const Tensor& x) override { return f_(x); }

 private:
  std::function<Tensor(const Tensor&)> f_;
  std::string name_;
};

// LSTM state: h and c, each (num_layers, B, H). Undefined means zeros.
struct LstmState {
  Tensor h, c;
  LstmState detach() const { return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c}; }
};

// Multi-layer LSTM, time-major like torch.nn.LSTM (batch_first=False): x (T, B, in) →
// output (T, B, H) (the last layer's h at every step) and the final state (h_n, c_n).
// Parameters per layer l: weight_ih_l{l} (4H, in_l), weight_hh_l{l} (4H, H), bias_ih_l{l} (4H),
// bias_hh_l{l} (4H), gates in PyTorch's order i, f, g, o; all U(-1/√H, 1/√H).
// Dropout p is applied to every layer's output but the last, in training only.
class LSTM : public Module {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1, double dropout = 0.0,
       Generator* gen = nullptr);
  std::string type_name() const override { return "LSTM"; }
  std::pair<Tensor, LstmState> forward(const Tensor& x, const LstmState& state);
  Tensor forward(const Tensor& x) override { return forward(x, LstmState{}).first; }  // zero state
  // Every layer's output sequence (T, B, H), first layer first (the last is forward's output); the
  // inter-layer dropout applies to what the next layer reads, not to what is returned.
  std::pair<TensorList, LstmState> forward_layers(const Tensor& x, const LstmState& state);
  int64_t hidden_size() const { return hidden_; }
  int64_t num_layers() const { return layers_; }

 private:
  int64_t input_size_, hidden_, layers_;
  double dropout_;
  Generator* gen_;
  TensorList w_ih_, w_hh_, b_ih_, b_hh_;  // one per layer
};

// Children "0", "1", …; forward chains their single-tensor forwards.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules);
  std::string type_name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override;
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    register_module(std::to_string(modules_.size()), m);
    modules_.push_back(m);
    return m;
  }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// Children "0", "1", …, no forward of its own (the owner decides how to call them).
class ModuleList : public Module {
 public:
  ModuleList() = default;
  std::string type_name() const override { return "ModuleList"; }
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    register_module(std::to_string(modules_.size()), m);
    modules_.push_back(m);
    return m;
  }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }
  // The i-th module as its own type (checked).
  template <class M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>(modules_.at(i));
    EMBER_CHECK(m != nullptr, "ModuleList::at(", i, "): module is a ", modules_.at(i)->type_name());
    return m;
  }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return modules_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace ember::nn
