// models/bert.h — the BERT encoder of Q4, with Hugging Face's BertModel tensor names exactly.
//
//   embeddings: word (V, C) + position (P, C) + token_type (2, C) → LayerNorm → dropout
//   encoder.layer.N: self-attention (query/key/value (C, C), heads of C/H, padding mask through
//     the fused scaled_dot_product_attention) → attention.output.dense → dropout → + x → LayerNorm
//     → intermediate.dense (I, C) → GELU (exact erf) → output.dense (C, I) → dropout → + → LayerNorm
//   pooler: tanh(dense(hidden state of [CLS]))
// so a Hugging Face checkpoint folder (config.json + model.safetensors) loads by name:
// embeddings.word_embeddings.weight, encoder.layer.3.attention.self.query.bias, pooler.dense.weight …
// A `bert.` prefix (BertFor* checkpoints) is stripped, their heads (cls.*, classifier.*) are
// ignored and listed, `embeddings.position_ids` is accepted and ignored, and an absent pooler is
// reported (the model keeps a freshly initialised one), not fatal.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nn/layers.h"

namespace ember::models {

// The fields of a Hugging Face BertConfig that change the math. from_json rejects what ember does
// not implement (another position_embedding_type, an unknown hidden_act, is_decoder) by name.
struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  double initializer_range = 0.02;

  nlohmann::json to_json() const;  // a Hugging Face-compatible config.json (model_type "bert")
  static BertConfig from_json(const nlohmann::json& j, const std::string& where = "config");
  static BertConfig from_file(const std::string& path);
  // The Google BERT miniatures (uncased vocab): "tiny" L2 H128, "mini" L4 H256, "small" L4 H512.
  static BertConfig named(const std::string& name);
  void validate(const std::string& where) const;
};

class BertSelfAttention;
class BertLayer;

class BertModel : public nn::Module {
 public:
  // Initialised as Hugging Face's _init_weights: Linear and Embedding weights N(0, initializer_range),
  // biases 0, the padding row of word_embeddings 0, LayerNorm 1 / 0, drawn from `init_gen` (used in
  // the constructor only; null: the default generator). Dropout draws from the default generator
  // unless set_dropout_generator names one that outlives the model.
  explicit BertModel(const BertConfig& cfg, Generator* init_gen = nullptr);
  std::string type_name() const override { return "BertModel"; }

  struct Output {
    Tensor last_hidden_state;  // (B, T, C)
    Tensor pooler_output;      // (B, C): tanh(dense(h[:, 0]))
  };
  // input_ids, token_type_ids, attention_mask: int64 (B, T); token_type_ids may be undefined
  // (all 0) and attention_mask undefined (all 1). Dropout is active in train() mode only.
  Output forward(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& attention_mask);
  // The encoder without the pooler: (B, T, C).
  Tensor encode(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& attention_mask);

  const BertConfig& config() const { return cfg_; }
  void set_dropout_generator(Generator* gen);
  bool has_pretrained_pooler() const { return pretrained_pooler_; }
  void set_pretrained_pooler(bool on) { pretrained_pooler_ = on; }

 private:
  BertConfig cfg_;
  std::shared_ptr<nn::Module> embeddings_;
  std::shared_ptr<nn::Embedding> word_, position_, token_type_;
  std::shared_ptr<nn::LayerNorm> emb_norm_;
  std::shared_ptr<nn::ModuleList> layers_;
  std::shared_ptr<nn::Linear> pooler_dense_;
  Generator* dropout_gen_ = nullptr;
  bool pretrained_pooler_ = false;
};

// Mean of the hidden states over the positions where attention_mask is 1 (sentence-transformers'
// mean pooling): hidden (B, T, C), mask int (B, T) → (B, C).
Tensor masked_mean_pool(const Tensor& hidden, const Tensor& attention_mask);

struct LoadedBert {
  std::shared_ptr<BertModel> model;
  nlohmann::json config;               // the whole config.json
  std::vector<std::string> ignored;    // checkpoint tensors not part of BertModel (heads, position_ids)
  std::vector<std::string> notes;      // what a user should know (e.g. "no pooler in the checkpoint")
};
// Loads dir/config.json + dir/model.safetensors strictly: one error lists every missing, unexpected
// and mis-shaped tensor. F16/BF16 weights are widened to float32.
LoadedBert load_bert(const std::string& dir);
// Binds a name → tensor table (Hugging Face names, optional `bert.` prefix) into `model`, strictly as
// load_bert does; returns the ignored names and notes. `source` names the file in messages.
LoadedBert bind_bert_weights(std::shared_ptr<BertModel> model, std::vector<std::pair<std::string, Tensor>> tensors,
                             const std::string& source);

}  // namespace ember::models
