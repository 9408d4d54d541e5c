// models/lstm_lm.cpp — see lstm_lm.h.
#include "models/lstm_lm.h"

#include <filesystem>
#include <fstream>

#include "engine/io/files.h"
#include "engine/io/safetensors.h"

namespace ember::models {

nlohmann::json LstmLMConfig::to_json() const {
  return {{"vocab_size", vocab_size}, {"emsize", emsize}, {"nhid", nhid}, {"layers", layers},
          {"dropout", dropout},       {"tied", tied},     {"model", "lstm_lm"}};
}

LstmLMConfig LstmLMConfig::from_json(const nlohmann::json& j) {
  LstmLMConfig c;
  for (const char* key : {"vocab_size", "emsize", "nhid", "layers", "dropout", "tied"})
    EMBER_CHECK(j.contains(key), "LstmLM config: missing key '", key, "' in ", j.dump());
  // Types checked before get<>: nlohmann's float -> int64 conversion of 3e88 is undefined behaviour
  // (found by tests/fuzz/fuzz_checkpoint).
  auto integer = [&](const char* key) {
    EMBER_CHECK(j.at(key).is_number_integer() && j.at(key).get<int64_t>() > 0, "LstmLM config: '", key,
                "' must be a positive integer, got ", j.at(key).dump());
    return j.at(key).get<int64_t>();
  };
  c.vocab_size = integer("vocab_size");
  c.emsize = integer("emsize");
  c.nhid = integer("nhid");
  c.layers = integer("layers");
  EMBER_CHECK(j.at("dropout").is_number() && j.at("dropout").get<double>() >= 0 && j.at("dropout").get<double>() < 1,
              "LstmLM config: 'dropout' must be a number in [0, 1), got ", j.at("dropout").dump());
  c.dropout = j.at("dropout").get<double>();
  EMBER_CHECK(j.at("tied").is_boolean(), "LstmLM config: 'tied' must be true or false, got ", j.at("tied").dump());
  c.tied = j.at("tied").get<bool>();
  return c;
}

LstmLM::LstmLM(const LstmLMConfig& cfg, Generator* gen) : cfg_(cfg) {
  EMBER_CHECK(cfg.vocab_size > 0 && cfg.emsize > 0 && cfg.nhid > 0 && cfg.layers > 0,
              "LstmLM: sizes must be positive, got ", cfg.to_json().dump());
  EMBER_CHECK(!cfg.tied || cfg.emsize == cfg.nhid, "LstmLM: tied weights need emsize == nhid, got emsize ",
              cfg.emsize, " and nhid ", cfg.nhid);
  drop_ = std::make_shared<nn::Dropout>(cfg.dropout, gen);
  encoder_ = register_module("encoder", std::make_shared<nn::Embedding>(cfg.vocab_size, cfg.emsize, -1, gen));
  rnn_ = register_module("rnn", std::make_shared<nn::LSTM>(cfg.emsize, cfg.nhid, cfg.layers, cfg.dropout, gen));
  // word_language_model's init_weights: encoder and decoder U(-0.1, 0.1), decoder bias 0.
  {
    NoGradGuard ng;
    Tensor ew = encoder_->weight();
    uniform_(ew, -0.1, 0.1, gen);
  }
  decoder_ = register_module("decoder", std::make_shared<nn::Module>());
  if (cfg.tied) {
    decoder_weight_ = decoder_->register_parameter("weight", encoder_->weight());
  } else {
    Tensor w = empty({cfg.vocab_size, cfg.nhid});
    uniform_(w, -0.1, 0.1, gen);
    decoder_weight_ = decoder_->register_parameter("weight", w);
  }
  decoder_bias_ = decoder_->register_parameter("bias", zeros({cfg.vocab_size}));
}

std::pair<Tensor, nn::LstmState> LstmLM::features(const Tensor& ids, const nn::LstmState& state) {
  EMBER_CHECK(ids.dim() == 2, "LstmLM: ids must be (T, B), got ", ids.shape());
  Tensor emb = drop_->forward(encoder_->forward(ids));  // (T, B, E)
  return rnn_->forward(emb, state);                      // (T, B, H)
}

std::pair<Tensor, nn::LstmState> LstmLM::forward(const Tensor& ids, const nn::LstmState& state) {
  auto [h, next] = features(ids, state);
  Tensor logits = linear(drop_->forward(h), decoder_weight_, decoder_bias_);  // (T, B, V)
  return {logits, next};
}

double mean_nll(LstmLM& model, const Tensor& data, int64_t bptt, Device device,
                const std::function<void(int64_t, int64_t, double)>& on_window, bool carry_state) {
  EMBER_CHECK(data.dim() == 2 && data.size(0) >= 2, "mean_nll: data must be (steps >= 2, B), got ", data.shape());
  model.eval();
  NoGradGuard ng;
  nn::LstmState state;
  double total = 0;
  int64_t tokens = 0;
  const int64_t windows = (data.size(0) - 1 + bptt - 1) / bptt;
  for (int64_t i = 0, w = 0; i < data.size(0) - 1; i += bptt, ++w) {
    datasets::BpttWindow win = datasets::bptt_window(data, i, bptt);
    auto [logits, next] = model.forward(win.input.to(device), carry_state ? state : nn::LstmState{});
    state = next;
    const int64_t n = win.target.numel();
    total += cross_entropy(logits.reshape({n, -1}), win.target.reshape({n}).to(device)).item() * static_cast<double>(n);
    tokens += n;
    if (on_window) on_window(w + 1, windows, total / static_cast<double>(tokens));
  }
  return total / static_cast<double>(tokens);
}

nlohmann::json wikitext_tokenisation() {
  return {{"scheme", "word_language_model"},
          {"split", "whitespace (Python str.split)"},
          {"end_of_line", datasets::Vocab::kEos},
          {"unknown", datasets::Vocab::kUnk},
          {"lowercase", false},
          {"vocab_file", "vocab.txt"},
          {"note", "WikiText-2 is pre-tokenised (e.g. '@-@', ' , '); tokenise new text the same way"}};
}

void save_lstm_lm(const std::string& dir, const LstmLM& model, const datasets::Vocab& vocab,
                  const nlohmann::json& extra) {
  nlohmann::json config = extra;
  config["model"] = model.config().to_json();
  config["tokenisation"] = wikitext_tokenisation();
  // All three files replace the folder's together: a crash mid-save leaves the previous checkpoint.
  io::write_dir_atomic(dir, {{"model.safetensors", safetensors::save_to_memory(model.state_dict(), {{"config", model.config().to_json().dump()}})},
                             {"vocab.txt", vocab.text()},
                             {"config.json", config.dump(2) + "\n"}});
}

LoadedLstmLM load_lstm_lm(const std::string& dir) {
  std::string cfg_path = dir + "/config.json";
  std::ifstream f(cfg_path);
  EMBER_CHECK(f.good(), "load_lstm_lm: cannot open '", cfg_path, "' (is '", dir, "' a checkpoint folder?)");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL("load_lstm_lm: '", cfg_path, "' is not valid JSON: ", e.what());
  }
  EMBER_CHECK(config.contains("model"), "load_lstm_lm: '", cfg_path, "' has no \"model\" entry");
  LoadedLstmLM out;
  out.config = config;
  out.vocab = datasets::Vocab::load(dir + "/vocab.txt");
  LstmLMConfig mc = LstmLMConfig::from_json(config["model"]);
  EMBER_CHECK(mc.vocab_size == out.vocab.size(), "load_lstm_lm: config says vocab_size ", mc.vocab_size,
              " but vocab.txt has ", out.vocab.size(), " words");
  safetensors::File weights = safetensors::load(dir + "/model.safetensors");
  // The config alone must not size an allocation: the model's weight matrices (biases left out,
  // so this is a lower bound) must be within a small factor of what the file really holds. (A near
  // miss goes on to the strict load, whose error names each mis-shaped tensor.)
  double held = 0;
  for (const auto& [name, t] : weights.tensors) held += static_cast<double>(t.numel());
  const double V = double(mc.vocab_size), E = double(mc.emsize), H = double(mc.nhid);
  double need = V * E + (mc.tied ? 0 : V * H);
  need += 4 * H * (E + H) + double(mc.layers - 1) * 8 * H * H;  // layer 0 reads E inputs, the others H
  EMBER_CHECK(need <= 4 * held + (1 << 20), "load_lstm_lm: '", cfg_path, "' describes a model of at least ", need, " weights, but '",
              dir, "/model.safetensors' holds only ", held,
              " values: the two files do not belong together (or the weights are truncated)");
  out.model = std::make_shared<LstmLM>(mc);
  out.model->load_state_dict(weights.tensors, /*strict=*/true);
  return out;
}

}  // namespace ember::models
