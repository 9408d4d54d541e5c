// models/lstm_lm.h — the LSTM language model of Q2, and the feature extractor of Q3.
//
// pytorch/examples word_language_model's RNNModel, LSTM flavour, with its parameter names:
//   encoder.weight (V, E)  →  dropout  →  rnn.weight_ih_l0 … (an nn::LSTM on the fused cell)
//   →  dropout  →  decoder.weight (V, H), decoder.bias (V)
// so a checkpoint of that example loads after conversion to safetensors. With tied weights
// (E == H) decoder.weight IS encoder.weight (one tensor, listed under both names in the
// state_dict, as PyTorch does).
//
// A checkpoint is a folder: model.safetensors (weights; config in __metadata__), vocab.txt
// (one word per line, id order) and config.json (the model config plus how the text was
// tokenised), everything Q3 needs to run the embedding + LSTM on new sentences.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "datasets/wikitext.h"
#include "engine/nn/layers.h"

namespace ember::models {

struct LstmLMConfig {
  int64_t vocab_size = 0;
  int64_t emsize = 200;
  int64_t nhid = 200;
  int64_t layers = 2;
  double dropout = 0.2;
  bool tied = false;

  nlohmann::json to_json() const;
  static LstmLMConfig from_json(const nlohmann::json& j);  // clear error on a missing key
};

class LstmLM : public nn::Module {
 public:
  explicit LstmLM(const LstmLMConfig& cfg, Generator* gen = nullptr);
  std::string type_name() const override { return "LstmLM"; }

  // ids (T, B) int64 → logits (T, B, V) and the state after the last step.
  std::pair<Tensor, nn::LstmState> forward(const Tensor& ids, const nn::LstmState& state);
  // ids (T, B) → the last LSTM layer's hidden state at every step (T, B, H): the features.
  std::pair<Tensor, nn::LstmState> features(const Tensor& ids, const nn::LstmState& state);

  const LstmLMConfig& config() const { return cfg_; }
  std::shared_ptr<nn::Embedding> encoder() const { return encoder_; }
  std::shared_ptr<nn::LSTM> rnn() const { return rnn_; }

 private:
  LstmLMConfig cfg_;
  std::shared_ptr<nn::Embedding> encoder_;
  std::shared_ptr<nn::LSTM> rnn_;
  std::shared_ptr<nn::Module> decoder_;
  Tensor decoder_weight_, decoder_bias_;
  std::shared_ptr<nn::Dropout> drop_;
};

// Mean negative log-likelihood per token over a batchified stream `data` (steps, B), read in
// BPTT windows with the hidden state carried from window to window (carry_state = false starts
// each window from zeros), in eval mode without a graph. Perplexity = exp(result).
// on_window(done, total, running_mean_nll) is called after each window (progress bars).
double mean_nll(LstmLM& model, const Tensor& data, int64_t bptt, Device device,
                const std::function<void(int64_t, int64_t, double)>& on_window = nullptr,
                bool carry_state = true);

// How WikiText-2 was turned into ids, written into config.json so new text can be mapped the
// same way (Q3): whitespace split, "<eos>" at each line end, unknown words → "<unk>".
nlohmann::json wikitext_tokenisation();

// Writes dir/model.safetensors, dir/vocab.txt and dir/config.json, each atomically.
// `extra` (training figures, epoch) is merged into config.json.
void save_lstm_lm(const std::string& dir, const LstmLM& model, const datasets::Vocab& vocab,
                  const nlohmann::json& extra = {});

struct LoadedLstmLM {
  std::shared_ptr<LstmLM> model;
  datasets::Vocab vocab;
  nlohmann::json config;  // the whole config.json
};
LoadedLstmLM load_lstm_lm(const std::string& dir);

}  // namespace ember::models
