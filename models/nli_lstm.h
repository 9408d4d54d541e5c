// models/nli_lstm.h — Q3's sentence-pair classifier on the Q2 language model's encoder.
//
//   encoder   the LstmLM's embedding + LSTM, with the LM's names (encoder.weight, rnn.weight_ih_l0 …),
//             copied from a trained LstmLM (or random init of the same shape: the scratch baseline).
//             Its features at each position: the last LSTM layer's hidden state, or (with_embeddings)
//             [embedding; hidden state], both layers of the LM as ELMo reads all of them — the word
//             itself makes exact matches between the sentences easy to align; with all_layers every
//             LSTM layer's state is there ([embedding; h_1; …; h_L]), not only the last one's.
//             Premise and hypothesis run through it together, as one time-major batch (T, 2B) padded
//             at the END: a forward LSTM's states at real positions never see the padding, and every
//             pooling below reads real positions only (masks), so a pair's logits do not depend on
//             what it is batched with.
//   head      "infersent": u, v = masked max over time of the features; [u; v; |u−v|; u⊙v]
//             → dropout → Linear → tanh → dropout → Linear(3)        (Conneau et al. 2017)
//             "esim": a (Tp, F), b (Th, F); e = a·bᵀ; ã = softmax_rows(e)·b, b̃ = softmax_cols(e)ᵀ·a
//             (masked both ways); m = [a; ã; a−ã; a⊙ã] → projection Linear(4F, P) + ReLU → composition
//             LSTM (new, trainable) → masked mean and max over time of both sentences
//             → [a_mean; a_max; b_mean; b_max] → dropout → Linear → tanh → dropout → Linear(3)
//             (Chen et al. 2017, with forward LSTMs where ESIM has BiLSTMs: the LM reads left to right)
// Everything is composed from ops in engine/ops.h (matmul, masked_fill, softmax, max, sum, concat …);
// there is no op of its own.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nn/layers.h"
#include "models/lstm_lm.h"

namespace ember::models {

struct NliLstmConfig {
  // The encoder: the LM's shape (LstmLMConfig's fields of the same names).
  int64_t vocab_size = 0, emsize = 200, nhid = 200, layers = 2;
  double encoder_dropout = 0.2;  // on the embeddings and between LSTM layers, while the encoder trains
  bool with_embeddings = false;  // features = [embedding; hidden] (emsize + nhid) instead of hidden (nhid)
  bool all_layers = false;       // hidden = every LSTM layer's state, first layer first (layers · nhid)
  // The head.
  std::string head = "esim";     // "infersent" | "esim"
  int64_t projection = 200;      // ESIM: the enhancement's projection size
  int64_t composition = 200;     // ESIM: the composition LSTM's hidden size
  int64_t mlp_hidden = 200;      // both: the classifier's hidden layer
  double dropout = 0.3;          // both: before each classifier Linear

  nlohmann::json to_json() const;
  static NliLstmConfig from_json(const nlohmann::json& j);  // clear error on a missing key
  int64_t feature_size() const { return (all_layers ? layers : 1) * nhid + (with_embeddings ? emsize : 0); }
  // The encoder shape of `lm`, head options left as they are.
  NliLstmConfig& encoder_like(const LstmLMConfig& lm);
};

// One padded batch of pairs, time-major, padding at the end of each column.
struct NliBatch {
  Tensor premise, hypothesis;            // ids (Tp, B), (Th, B) int64
  Tensor premise_mask, hypothesis_mask;  // (Tp, B), (Th, B) float32: 1 real token, 0 padding
};
// Every sequence must be non-empty; pad_id fills the tail (any id: padding is never read).
NliBatch make_nli_batch(const std::vector<const std::vector<int64_t>*>& premises,
                        const std::vector<const std::vector<int64_t>*>& hypotheses, int64_t pad_id);

class NliLstm : public nn::Module {
 public:
  explicit NliLstm(const NliLstmConfig& cfg, Generator* gen = nullptr);
  std::string type_name() const override { return "NliLstm"; }

  // logits (B, 3).
  Tensor forward(const NliBatch& batch);
  // The encoder's features of premise (Tp, B, F) and hypothesis (Th, B, F), F = feature_size(). With
  // the encoder frozen it runs without a graph and without dropout (fixed features).
  std::pair<Tensor, Tensor> encode(const NliBatch& batch);
  // The head on encoder features: hp (Tp, B, F), mp (Tp, B) mask, hh (Th, B, F), mh (Th, B) → (B, 3).
  Tensor head(const Tensor& hp, const Tensor& mp, const Tensor& hh, const Tensor& mh);

  // Copies the LM's embedding and LSTM weights (shapes must match; the decoder is not used).
  void load_encoder(const LstmLM& lm);
  // Frozen: the encoder's parameters stop requiring grad and encode() builds no graph.
  void freeze_encoder(bool frozen);
  bool encoder_frozen() const { return frozen_; }
  TensorList encoder_parameters() const;  // embedding + LSTM
  TensorList head_parameters() const;     // everything else

  const NliLstmConfig& config() const { return cfg_; }

 private:
  Tensor infersent_head(const Tensor& hp, const Tensor& mp, const Tensor& hh, const Tensor& mh);
  Tensor esim_head(const Tensor& hp, const Tensor& mp, const Tensor& hh, const Tensor& mh);

  NliLstmConfig cfg_;
  Generator* gen_;
  bool frozen_ = false;
  std::shared_ptr<nn::Embedding> encoder_;
  std::shared_ptr<nn::LSTM> rnn_;
  std::shared_ptr<nn::Linear> projection_;   // ESIM only
  std::shared_ptr<nn::LSTM> composition_;    // ESIM only
  std::shared_ptr<nn::Sequential> classifier_;
};

// Masked pooling over time of x (T, B, D) with mask (T, B) (1 = real): (B, D). Every column needs
// at least one real position.
Tensor masked_max_over_time(const Tensor& x, const Tensor& mask);
Tensor masked_mean_over_time(const Tensor& x, const Tensor& mask);

// Runs `lstm` (zero initial state) over two time-major sequences as one batch: the shorter is
// padded at the end with zeros to the longer's length, the two are joined along the batch, and
// the output is cut back: (Ta, B, D), (Tb, B, D) → (Ta, B, H), (Tb, B, H). Half the sequential
// steps of two calls; the same values at every real position.
std::pair<Tensor, Tensor> lstm_pair(nn::LSTM& lstm, const Tensor& a, const Tensor& b);
// The same, with every layer's output: element l is layer l's pair.
std::vector<std::pair<Tensor, Tensor>> lstm_pair_layers(nn::LSTM& lstm, const Tensor& a, const Tensor& b);

}  // namespace ember::models
