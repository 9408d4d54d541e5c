// layers.cpp — constructors (parameters, buffers, PyTorch's default init) and forwards of the
// nn layers (see layers.h). The forwards are thin: the math lives in engine/ops.
#include "engine/nn/layers.h"

#include <cmath>
#include <tuple>

namespace ember::nn {

namespace {

// A float32 tensor drawn from U(-bound, bound): PyTorch's default for Linear, Conv2d, LSTM.
Tensor uniform_init(const Shape& shape, double bound, Generator* gen) {
  Tensor t = empty(shape);
  uniform_(t, -bound, bound, gen);
  return t;
}

}  // namespace

// ---------------- Linear ----------------

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator* gen) {
  EMBER_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got in=", in_features,
              " out=", out_features);
  double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight_ = register_parameter("weight", uniform_init({out_features, in_features}, bound, gen));
  if (bias) bias_ = register_parameter("bias", uniform_init({out_features}, bound, gen));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

// ---------------- Conv2d ----------------

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Pair2 kernel_size, Pair2 stride, Pair2 padding,
               Pair2 dilation, bool bias, Generator* gen)
    : stride_(stride), padding_(padding), dilation_(dilation) {
  EMBER_CHECK(in_channels > 0 && out_channels > 0 && kernel_size.h > 0 && kernel_size.w > 0,
              "Conv2d: channels and kernel size must be positive, got in=", in_channels, " out=", out_channels,
              " kernel=(", kernel_size.h, ", ", kernel_size.w, ")");
  double fan_in = static_cast<double>(in_channels * kernel_size.h * kernel_size.w);
  double bound = 1.0 / std::sqrt(fan_in);
  weight_ = register_parameter("weight",
                               uniform_init({out_channels, in_channels, kernel_size.h, kernel_size.w}, bound, gen));
  if (bias) bias_ = register_parameter("bias", uniform_init({out_channels}, bound, gen));
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight_, bias_, stride_, padding_, dilation_); }

// ---------------- BatchNorm2d ----------------

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, double momentum) : eps_(eps), momentum_(momentum) {
  EMBER_CHECK(num_features > 0, "BatchNorm2d: num_features must be positive, got ", num_features);
  weight_ = register_parameter("weight", ones({num_features}));
  bias_ = register_parameter("bias", zeros({num_features}));
  running_mean_ = register_buffer("running_mean", zeros({num_features}));
  running_var_ = register_buffer("running_var", ones({num_features}));
  num_batches_tracked_ = register_buffer("num_batches_tracked", zeros({}, Options(DType::I64)));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  Tensor y = batch_norm2d(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_);
  if (is_training()) {
    if (num_batches_tracked_.device().is_cpu()) {
      ++*num_batches_tracked_.data<int64_t>();
    } else {
      fill_(num_batches_tracked_, num_batches_tracked_.item() + 1);
    }
  }
  return y;
}

// ---------------- LayerNorm ----------------

LayerNorm::LayerNorm(Shape normalized_shape, double eps, bool elementwise_affine)
    : normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  EMBER_CHECK(!normalized_shape_.empty(), "LayerNorm: normalized_shape must not be empty");
  for (int64_t d : normalized_shape_)
    EMBER_CHECK(d > 0, "LayerNorm: normalized_shape must be positive, got ", normalized_shape_);
  if (elementwise_affine) {
    weight_ = register_parameter("weight", ones(normalized_shape_));
    bias_ = register_parameter("bias", zeros(normalized_shape_));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, normalized_shape_, weight_, bias_, eps_); }

// ---------------- Embedding ----------------

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim, int64_t padding_idx, Generator* gen)
    : padding_idx_(padding_idx) {
  EMBER_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: sizes must be positive, got num=",
              num_embeddings, " dim=", embedding_dim);
  EMBER_CHECK(padding_idx >= -1 && padding_idx < num_embeddings, "Embedding: padding_idx must be -1 (none) or in [0, ",
              num_embeddings, "), got ", padding_idx);
  Tensor w = empty({num_embeddings, embedding_dim});
  normal_(w, 0.0, 1.0, gen);
  if (padding_idx >= 0) {
    Tensor row = w.narrow(0, padding_idx, 1);
    fill_(row, 0.0);
  }
  weight_ = register_parameter("weight", w);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight_, ids, padding_idx_); }

// ---------------- Dropout ----------------

Dropout::Dropout(double p, Generator* gen) : p_(p), gen_(gen) {
  EMBER_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), gen_); }

// ---------------- LSTM ----------------

LSTM::LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers, double dropout, Generator* gen)
    : input_size_(input_size), hidden_(hidden_size), layers_(num_layers), dropout_(dropout), gen_(gen) {
  EMBER_CHECK(input_size > 0 && hidden_size > 0 && num_layers > 0, "LSTM: sizes must be positive, got input=",
              input_size, " hidden=", hidden_size, " layers=", num_layers);
  EMBER_CHECK(dropout >= 0 && dropout <= 1, "LSTM: dropout must be in [0, 1], got ", dropout);
  double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  int64_t H4 = 4 * hidden_size;
  // Registration order is torch.nn.LSTM's _flat_weights order: it fixes the state_dict key
  // order and the order in which the init draws from the generator.
  for (int64_t l = 0; l < num_layers; ++l) {
    std::string s = "_l" + std::to_string(l);
    int64_t in_l = l == 0 ? input_size : hidden_size;
    w_ih_.push_back(register_parameter("weight_ih" + s, uniform_init({H4, in_l}, bound, gen)));
    w_hh_.push_back(register_parameter("weight_hh" + s, uniform_init({H4, hidden_size}, bound, gen)));
    b_ih_.push_back(register_parameter("bias_ih" + s, uniform_init({H4}, bound, gen)));
    b_hh_.push_back(register_parameter("bias_hh" + s, uniform_init({H4}, bound, gen)));
  }
}

std::pair<Tensor, LstmState> LSTM::forward(const Tensor& x, const LstmState& state) {
  auto [outs, st] = forward_layers(x, state);
  return {outs.back(), st};
}

std::pair<TensorList, LstmState> LSTM::forward_layers(const Tensor& x, const LstmState& state) {
  EMBER_CHECK(x.dim() == 3 && x.size(2) == input_size_, "LSTM: input must be (T, B, ", input_size_,
              ") (time-major), got ", x.shape());
  const int64_t T = x.size(0), B = x.size(1);
  EMBER_CHECK(T > 0, "LSTM: input has no time steps");
  EMBER_CHECK(state.h.defined() == state.c.defined(), "LSTM: give both h0 and c0, or neither");
  const Shape state_shape{layers_, B, hidden_};
  if (state.h.defined()) {
    EMBER_CHECK(state.h.shape() == state_shape && state.c.shape() == state_shape, "LSTM: h0 and c0 must be ",
                state_shape, " (layers, B, H), got ", state.h.shape(), " and ", state.c.shape());
  }

  Tensor layer_in = x;  // (T, B, in_l)
  TensorList outs, h_n, c_n;
  for (int64_t l = 0; l < layers_; ++l) {
    Tensor h = state.h.defined() ? state.h.narrow(0, l, 1).squeeze(0) : zeros({B, hidden_}, Options(x.dtype(), x.device()));
    Tensor c = state.c.defined() ? state.c.narrow(0, l, 1).squeeze(0) : zeros({B, hidden_}, Options(x.dtype(), x.device()));
    // The input projection of every step in one GEMM: (T, B, in_l) → (T, B, 4H); then the
    // recurrence in one op (per step: gates = xproj_t + h·W_hhᵀ + b_hh, lstm_cell).
    Tensor xproj = linear(layer_in, w_ih_[l], b_ih_[l]);
    auto [out, h_last, c_last] = lstm_layer(xproj, w_hh_[l], b_hh_[l], h, c);
    outs.push_back(out);  // (T, B, H)
    layer_in = out;
    h_n.push_back(h_last.unsqueeze(0));
    c_n.push_back(c_last.unsqueeze(0));
    if (dropout_ > 0 && is_training() && l + 1 < layers_) layer_in = dropout(layer_in, dropout_, true, gen_);
  }
  return {outs, LstmState{concat(h_n, 0), concat(c_n, 0)}};
}

// ---------------- Sequential ----------------

Sequential::Sequential(std::initializer_list<std::shared_ptr<Module>> modules) {
  for (const auto& m : modules) push_back(m);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : modules_) y = m->forward(y);
  return y;
}

}  // namespace ember::nn
