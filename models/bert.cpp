// models/bert.cpp — BertConfig (Hugging Face config.json), BertModel's modules with Hugging Face's
// names, its forward, and the strict weight binding of load_bert. See bert.h.
#include "models/bert.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/io/safetensors.h"

namespace ember::models {

using nlohmann::json;

// ---------------- BertConfig ----------------

json BertConfig::to_json() const {
  return json{{"architectures", {"BertModel"}},
              {"model_type", "bert"},
              {"vocab_size", vocab_size},
              {"hidden_size", hidden_size},
              {"num_hidden_layers", num_hidden_layers},
              {"num_attention_heads", num_attention_heads},
              {"intermediate_size", intermediate_size},
              {"hidden_act", hidden_act},
              {"hidden_dropout_prob", hidden_dropout_prob},
              {"attention_probs_dropout_prob", attention_probs_dropout_prob},
              {"max_position_embeddings", max_position_embeddings},
              {"type_vocab_size", type_vocab_size},
              {"layer_norm_eps", layer_norm_eps},
              {"pad_token_id", pad_token_id},
              {"initializer_range", initializer_range},
              {"position_embedding_type", "absolute"}};
}

void BertConfig::validate(const std::string& where) const {
  EMBER_CHECK(vocab_size > 0 && hidden_size > 0 && num_hidden_layers > 0 && num_attention_heads > 0 &&
                  intermediate_size > 0 && max_position_embeddings > 0 && type_vocab_size > 0,
              where, ": every size must be positive (vocab_size ", vocab_size, ", hidden_size ", hidden_size,
              ", num_hidden_layers ", num_hidden_layers, ", num_attention_heads ", num_attention_heads,
              ", intermediate_size ", intermediate_size, ", max_position_embeddings ", max_position_embeddings,
              ", type_vocab_size ", type_vocab_size, ")");
  EMBER_CHECK(hidden_size % num_attention_heads == 0, where, ": hidden_size ", hidden_size,
              " is not a multiple of num_attention_heads ", num_attention_heads);
  EMBER_CHECK(hidden_act == "gelu", where, ": hidden_act '", hidden_act,
              "' is not supported (ember implements \"gelu\", the exact erf GELU of BERT)");
  EMBER_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size, where, ": pad_token_id ", pad_token_id,
              " is outside the vocabulary [0, ", vocab_size, ")");
  EMBER_CHECK(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1 && attention_probs_dropout_prob >= 0 &&
                  attention_probs_dropout_prob < 1,
              where, ": dropout probabilities must be in [0, 1)");
  EMBER_CHECK(layer_norm_eps > 0, where, ": layer_norm_eps must be positive, got ", layer_norm_eps);
}

BertConfig BertConfig::from_json(const json& j, const std::string& where) {
  EMBER_CHECK(j.is_object(), where, ": a BERT config must be a JSON object");
  BertConfig c;
  auto get_int = [&](const char* key, int64_t& field, bool required) {
    if (!j.contains(key)) {
      EMBER_CHECK(!required, where, ": missing required field '", key, "'");
      return;
    }
    EMBER_CHECK(j[key].is_number_integer(), where, ": field '", key, "' must be an integer, got ", j[key].dump());
    field = j[key].get<int64_t>();
  };
  auto get_num = [&](const char* key, double& field) {
    if (!j.contains(key)) return;
    EMBER_CHECK(j[key].is_number(), where, ": field '", key, "' must be a number, got ", j[key].dump());
    field = j[key].get<double>();
  };
  get_int("vocab_size", c.vocab_size, true);
  get_int("hidden_size", c.hidden_size, true);
  get_int("num_hidden_layers", c.num_hidden_layers, true);
  get_int("num_attention_heads", c.num_attention_heads, true);
  get_int("intermediate_size", c.intermediate_size, true);
  get_int("max_position_embeddings", c.max_position_embeddings, false);
  get_int("type_vocab_size", c.type_vocab_size, false);
  if (j.contains("pad_token_id") && !j["pad_token_id"].is_null()) get_int("pad_token_id", c.pad_token_id, false);
  get_num("hidden_dropout_prob", c.hidden_dropout_prob);
  get_num("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  get_num("layer_norm_eps", c.layer_norm_eps);
  get_num("initializer_range", c.initializer_range);
  if (j.contains("hidden_act")) {
    EMBER_CHECK(j["hidden_act"].is_string(), where, ": field 'hidden_act' must be a string, got ",
                j["hidden_act"].dump());
    c.hidden_act = j["hidden_act"].get<std::string>();
  }
  if (j.contains("model_type") && j["model_type"].is_string()) {
    std::string mt = j["model_type"].get<std::string>();
    EMBER_CHECK(mt == "bert", where, ": model_type '", mt, "' is not a BERT model (expected \"bert\")");
  }
  if (j.contains("position_embedding_type") && !j["position_embedding_type"].is_null()) {
    std::string pe = j["position_embedding_type"].is_string() ? j["position_embedding_type"].get<std::string>()
                                                               : j["position_embedding_type"].dump();
    EMBER_CHECK(pe == "absolute", where, ": position_embedding_type '", pe,
                "' is not supported (ember implements \"absolute\")");
  }
  if (j.contains("is_decoder") && j["is_decoder"].is_boolean())
    EMBER_CHECK(!j["is_decoder"].get<bool>(), where, ": is_decoder=true (a causal BERT) is not supported");
  if (j.contains("add_cross_attention") && j["add_cross_attention"].is_boolean())
    EMBER_CHECK(!j["add_cross_attention"].get<bool>(), where, ": add_cross_attention=true is not supported");
  c.validate(where);
  return c;
}

BertConfig BertConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  EMBER_CHECK(in.good(), "BertConfig: cannot open '", path, "'");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  EMBER_CHECK(!j.is_discarded(), "BertConfig: '", path, "' is not valid JSON");
  return from_json(j, path);
}

BertConfig BertConfig::named(const std::string& name) {
  BertConfig c;  // the miniatures: uncased vocab, 512 positions, intermediate = 4 × hidden
  if (name == "tiny") {
    c.num_hidden_layers = 2, c.hidden_size = 128, c.num_attention_heads = 2;
  } else if (name == "mini") {
    c.num_hidden_layers = 4, c.hidden_size = 256, c.num_attention_heads = 4;
  } else if (name == "small") {
    c.num_hidden_layers = 4, c.hidden_size = 512, c.num_attention_heads = 8;
  } else if (name == "minilm") {  // all-MiniLM-L6-v2's shape, randomly initialised
    c.num_hidden_layers = 6, c.hidden_size = 384, c.num_attention_heads = 12;
  } else {
    EMBER_FAIL("BertConfig::named: unknown config '", name, "' (expected tiny, mini, small or minilm)");
  }
  c.intermediate_size = 4 * c.hidden_size;
  return c;
}

// ---------------- modules (Hugging Face's classes, reduced to their parameters) ----------------

namespace {

// Hugging Face's _init_weights for a Linear: weight N(0, std), bias 0.
std::shared_ptr<nn::Linear> bert_linear(int64_t in, int64_t out, double std, Generator* gen) {
  auto l = std::make_shared<nn::Linear>(in, out, true, gen);
  Tensor w = l->weight(), b = l->bias();
  normal_(w, 0.0, std, gen);
  fill_(b, 0.0);
  return l;
}

std::shared_ptr<nn::Embedding> bert_embedding(int64_t num, int64_t dim, int64_t padding_idx, double std,
                                              Generator* gen) {
  auto e = std::make_shared<nn::Embedding>(num, dim, padding_idx, gen);
  Tensor w = e->weight();
  normal_(w, 0.0, std, gen);
  if (padding_idx >= 0) {
    Tensor row = w.narrow(0, padding_idx, 1);
    fill_(row, 0.0);
  }
  return e;
}

// A plain container whose children carry the Hugging Face names ("dense", "LayerNorm").
class Named : public nn::Module {
 public:
  explicit Named(std::string type) : type_(std::move(type)) {}
  std::string type_name() const override { return type_; }

 private:
  std::string type_;
};

}  // namespace

// encoder.layer.N: attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
// intermediate.dense, output.{dense,LayerNorm}.
class BertLayer : public nn::Module {
 public:
  BertLayer(const BertConfig& c, Generator* gen) : cfg_(c) {
    const int64_t C = c.hidden_size, I = c.intermediate_size;
    const double s = c.initializer_range;
    auto attention = register_module("attention", std::make_shared<Named>("BertAttention"));
    auto self = attention->register_module("self", std::make_shared<Named>("BertSelfAttention"));
    query_ = self->register_module("query", bert_linear(C, C, s, gen));
    key_ = self->register_module("key", bert_linear(C, C, s, gen));
    value_ = self->register_module("value", bert_linear(C, C, s, gen));
    auto attn_out = attention->register_module("output", std::make_shared<Named>("BertSelfOutput"));
    attn_dense_ = attn_out->register_module("dense", bert_linear(C, C, s, gen));
    attn_norm_ = attn_out->register_module("LayerNorm", std::make_shared<nn::LayerNorm>(C, c.layer_norm_eps));
    auto inter = register_module("intermediate", std::make_shared<Named>("BertIntermediate"));
    inter_dense_ = inter->register_module("dense", bert_linear(C, I, s, gen));
    auto out = register_module("output", std::make_shared<Named>("BertOutput"));
    out_dense_ = out->register_module("dense", bert_linear(I, C, s, gen));
    out_norm_ = out->register_module("LayerNorm", std::make_shared<nn::LayerNorm>(C, c.layer_norm_eps));
  }
  std::string type_name() const override { return "BertLayer"; }
  void set_dropout_generator(Generator* gen) { gen_ = gen; }

  // x (B, T, C), mask int (B, 1, 1, T) or undefined → (B, T, C).
  Tensor forward(const Tensor& x, const Tensor& mask) {
    const int64_t B = x.size(0), T = x.size(1), C = cfg_.hidden_size, H = cfg_.num_attention_heads, D = C / H;
    const bool train = is_training();
    auto heads = [&](const Tensor& t) { return t.reshape({B, T, H, D}).permute({0, 2, 1, 3}); };  // (B, H, T, D)
    Tensor q = heads(query_->forward(x)), k = heads(key_->forward(x)), v = heads(value_->forward(x));
    Tensor ctx = scaled_dot_product_attention(q, k, v, mask, cfg_.attention_probs_dropout_prob, train, 0.0, gen_);
    ctx = ctx.permute({0, 2, 1, 3}).reshape({B, T, C});
    Tensor a = dropout(attn_dense_->forward(ctx), cfg_.hidden_dropout_prob, train, gen_);
    a = attn_norm_->forward(add(a, x));
    Tensor h = gelu(inter_dense_->forward(a));
    Tensor o = dropout(out_dense_->forward(h), cfg_.hidden_dropout_prob, train, gen_);
    return out_norm_->forward(add(o, a));
  }

 private:
  BertConfig cfg_;
  Generator* gen_ = nullptr;  // dropout (null: the default generator)
  std::shared_ptr<nn::Linear> query_, key_, value_, attn_dense_, inter_dense_, out_dense_;
  std::shared_ptr<nn::LayerNorm> attn_norm_, out_norm_;
};

// ---------------- BertModel ----------------

BertModel::BertModel(const BertConfig& cfg, Generator* gen) : cfg_(cfg) {
  cfg_.validate("BertModel");
  const double s = cfg.initializer_range;
  const int64_t C = cfg.hidden_size;
  embeddings_ = register_module("embeddings", std::make_shared<Named>("BertEmbeddings"));
  word_ = embeddings_->register_module("word_embeddings",
                                       bert_embedding(cfg.vocab_size, C, cfg.pad_token_id, s, gen));
  position_ = embeddings_->register_module("position_embeddings",
                                           bert_embedding(cfg.max_position_embeddings, C, -1, s, gen));
  token_type_ = embeddings_->register_module("token_type_embeddings",
                                             bert_embedding(cfg.type_vocab_size, C, -1, s, gen));
  emb_norm_ = embeddings_->register_module("LayerNorm", std::make_shared<nn::LayerNorm>(C, cfg.layer_norm_eps));
  auto encoder = register_module("encoder", std::make_shared<Named>("BertEncoder"));
  layers_ = encoder->register_module("layer", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers_->push_back(std::make_shared<BertLayer>(cfg, gen));
  auto pooler = register_module("pooler", std::make_shared<Named>("BertPooler"));
  pooler_dense_ = pooler->register_module("dense", bert_linear(C, C, s, gen));
}

Tensor BertModel::encode(const Tensor& input_ids, const Tensor& token_type_ids, const Tensor& attention_mask) {
  EMBER_CHECK(input_ids.dim() == 2, "BertModel: input_ids must be 2-D (B, T), got ", input_ids.shape());
  EMBER_CHECK(!is_floating(input_ids.dtype()), "BertModel: input_ids must be integer, got ", input_ids.dtype());
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  EMBER_CHECK(T >= 1 && T <= cfg_.max_position_embeddings, "BertModel: sequence length ", T,
              " is outside [1, max_position_embeddings = ", cfg_.max_position_embeddings, "]");
  for (const Tensor* t : {&token_type_ids, &attention_mask}) {
    if (!t->defined()) continue;
    EMBER_CHECK(t->shape() == input_ids.shape(), "BertModel: ",
                t == &token_type_ids ? "token_type_ids" : "attention_mask", " must have input_ids' shape ",
                input_ids.shape(), ", got ", t->shape());
    EMBER_CHECK(!is_floating(t->dtype()), "BertModel: ", t == &token_type_ids ? "token_type_ids" : "attention_mask",
                " must be integer, got ", t->dtype());
  }
  const Device dev = word_->weight().device();
  Tensor positions = arange(0, static_cast<double>(T), 1, Options(DType::I64, dev));  // (T)
  Tensor types = token_type_ids.defined() ? token_type_ids.to(dev) : zeros({B, T}, Options(DType::I64, dev));
  Tensor x = add(word_->forward(input_ids.to(dev)), token_type_->forward(types));
  x = add(x, position_->forward(positions));  // (T, C) broadcast over B
  x = dropout(emb_norm_->forward(x), cfg_.hidden_dropout_prob, is_training(), dropout_gen_);
  // Keys where attention_mask is 0 get no weight: the fused op takes an integer keep-mask.
  Tensor mask = attention_mask.defined() ? attention_mask.reshape({B, 1, 1, T}) : Tensor();
  for (size_t i = 0; i < layers_->size(); ++i) x = layers_->at<BertLayer>(i)->forward(x, mask);
  return x;
}

void BertModel::set_dropout_generator(Generator* gen) {
  dropout_gen_ = gen;
  for (size_t i = 0; i < layers_->size(); ++i) layers_->at<BertLayer>(i)->set_dropout_generator(gen);
}

BertModel::Output BertModel::forward(const Tensor& input_ids, const Tensor& token_type_ids,
                                     const Tensor& attention_mask) {
  Output out;
  out.last_hidden_state = encode(input_ids, token_type_ids, attention_mask);
  Tensor cls = out.last_hidden_state.narrow(1, 0, 1).squeeze(1);  // (B, C)
  out.pooler_output = tanh(pooler_dense_->forward(cls));
  return out;
}

Tensor masked_mean_pool(const Tensor& hidden, const Tensor& attention_mask) {
  EMBER_CHECK(hidden.dim() == 3, "masked_mean_pool: hidden must be (B, T, C), got ", hidden.shape());
  EMBER_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == hidden.size(0) &&
                  attention_mask.size(1) == hidden.size(1),
              "masked_mean_pool: attention_mask must be (B, T) = [", hidden.size(0), ", ", hidden.size(1), "], got ",
              attention_mask.shape());
  Tensor m = attention_mask.to(hidden.dtype()).to(hidden.device()).unsqueeze(2);  // (B, T, 1)
  Tensor count = clamp(sum(m, {1}), 1e-9);                                           // (B, 1), as sentence-transformers
  return div(sum(mul(hidden, m), {1}), count);
}

// ---------------- loading ----------------

LoadedBert bind_bert_weights(std::shared_ptr<BertModel> model, std::vector<std::pair<std::string, Tensor>> tensors,
                             const std::string& source) {
  LoadedBert out;
  out.model = model;
  const DType want = model->state_dict().front().second.dtype();
  std::vector<std::pair<std::string, Tensor>> state;
  bool has_pooler = false;
  for (auto& [raw, t] : tensors) {
    std::string name = raw.rfind("bert.", 0) == 0 ? raw.substr(5) : raw;
    const bool ours = name.rfind("embeddings.", 0) == 0 || name.rfind("encoder.", 0) == 0 ||
                      name.rfind("pooler.", 0) == 0;
    if (!ours || name == "embeddings.position_ids") {  // heads of BertFor*, and a buffer BertModel recomputes
      out.ignored.push_back(raw);
      continue;
    }
    has_pooler = has_pooler || name.rfind("pooler.", 0) == 0;
    state.emplace_back(name, is_floating(t.dtype()) && t.dtype() != want ? t.to(want) : t);
  }
  if (!has_pooler) {
    out.notes.push_back("'" + source + "' has no pooler (pooler.dense.*): pooler_output uses a freshly "
                        "initialised pooler; pool with the [CLS] state or the mean instead");
    for (auto& [name, t] : model->state_dict())
      if (name.rfind("pooler.", 0) == 0) state.emplace_back(name, t.detach().clone());
  }
  try {
    model->load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    EMBER_FAIL("load_bert: '", source, "' does not match BertModel(", model->config().to_json().dump(), "):\n",
               e.what());
  }
  model->set_pretrained_pooler(has_pooler);
  return out;
}

LoadedBert load_bert(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path cfg_path = fs::path(dir) / "config.json", weights_path = fs::path(dir) / "model.safetensors";
  EMBER_CHECK(fs::is_directory(dir), "load_bert: '", dir,
              "' is not a folder (expected a Hugging Face checkpoint folder with config.json and "
              "model.safetensors; scripts/fetch-weights.sh fetches all-MiniLM-L6-v2)");
  EMBER_CHECK(fs::exists(cfg_path), "load_bert: '", dir, "' has no config.json");
  EMBER_CHECK(fs::exists(weights_path), "load_bert: '", dir, "' has no model.safetensors");
  std::ifstream in(cfg_path);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  EMBER_CHECK(!j.is_discarded(), "load_bert: '", cfg_path.string(), "' is not valid JSON");
  BertConfig cfg = BertConfig::from_json(j, cfg_path.string());
  safetensors::File file = safetensors::load(weights_path.string());
  // The config alone must not size an allocation: its weight matrices (biases, LayerNorms and the
  // optional pooler left out, so this is a lower bound) must be within a small factor of what the
  // file really holds. (A near miss goes on to the strict load, which names each mis-shaped tensor.)
  double held = 0;
  for (const auto& [name, t] : file.tensors) held += static_cast<double>(t.numel());
  const double H = double(cfg.hidden_size), I = double(cfg.intermediate_size);
  const double need = H * double(cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) +
                      double(cfg.num_hidden_layers) * (4 * H * H + 2 * H * I);
  EMBER_CHECK(need <= 4 * held + (1 << 20), "load_bert: '", cfg_path.string(), "' describes a model of at least ", need,
              " weights, but '", weights_path.string(), "' holds only ", held,
              " values: the two files do not belong together (or the weights are truncated)");
  auto model = std::make_shared<BertModel>(cfg);
  LoadedBert out = bind_bert_weights(model, std::move(file.tensors), weights_path.string());
  out.config = j;
  return out;
}

}  // namespace ember::models
