// models/nli_lstm.cpp — see nli_lstm.h.
#include "models/nli_lstm.h"

#include <algorithm>

namespace ember::models {

using nlohmann::json;

namespace {
// What masked positions are filled with before a max or a softmax. Finite, so exp() gives exactly
// 0 and no inf − inf appears; LSTM hidden states are in (−1, 1), so scores are far above it.
constexpr double kMaskedScore = -1e9;

// (T, B) mask → the padding indicator (nonzero = padding) in x's dtype and device.
Tensor padding_of(const Tensor& mask, const Tensor& like) {
  return sub(ones_like(mask), mask).to(like.dtype()).to(like.device());
}
}  // namespace

// ---------------- config ----------------

json NliLstmConfig::to_json() const {
  return {{"model", "nli_lstm"},
          {"vocab_size", vocab_size},
          {"emsize", emsize},
          {"nhid", nhid},
          {"layers", layers},
          {"encoder_dropout", encoder_dropout},
          {"with_embeddings", with_embeddings},
          {"all_layers", all_layers},
          {"head", head},
          {"projection", projection},
          {"composition", composition},
          {"mlp_hidden", mlp_hidden},
          {"dropout", dropout}};
}

NliLstmConfig NliLstmConfig::from_json(const json& j) {
  for (const char* key : {"vocab_size", "emsize", "nhid", "layers", "encoder_dropout", "head", "projection",
                          "composition", "mlp_hidden", "dropout"})
    EMBER_CHECK(j.contains(key), "NliLstm config: missing key '", key, "' in ", j.dump());
  NliLstmConfig c;
  c.vocab_size = j.at("vocab_size").get<int64_t>();
  c.emsize = j.at("emsize").get<int64_t>();
  c.nhid = j.at("nhid").get<int64_t>();
  c.layers = j.at("layers").get<int64_t>();
  c.encoder_dropout = j.at("encoder_dropout").get<double>();
  c.with_embeddings = j.value("with_embeddings", false);
  c.all_layers = j.value("all_layers", false);  // absent in checkpoints written before the option
  c.head = j.at("head").get<std::string>();
  c.projection = j.at("projection").get<int64_t>();
  c.composition = j.at("composition").get<int64_t>();
  c.mlp_hidden = j.at("mlp_hidden").get<int64_t>();
  c.dropout = j.at("dropout").get<double>();
  return c;
}

NliLstmConfig& NliLstmConfig::encoder_like(const LstmLMConfig& lm) {
  vocab_size = lm.vocab_size, emsize = lm.emsize, nhid = lm.nhid, layers = lm.layers;
  encoder_dropout = lm.dropout;
  return *this;
}

// ---------------- batching ----------------

NliBatch make_nli_batch(const std::vector<const std::vector<int64_t>*>& premises,
                        const std::vector<const std::vector<int64_t>*>& hypotheses, int64_t pad_id) {
  EMBER_CHECK(!premises.empty() && premises.size() == hypotheses.size(), "make_nli_batch: ", premises.size(),
              " premises and ", hypotheses.size(), " hypotheses (need the same number, at least one)");
  const int64_t B = static_cast<int64_t>(premises.size());
  auto pack = [&](const std::vector<const std::vector<int64_t>*>& seqs, const char* what, Tensor& ids, Tensor& mask) {
    size_t T = 0;
    for (size_t b = 0; b < seqs.size(); ++b) {
      EMBER_CHECK(!seqs[b]->empty(), "make_nli_batch: ", what, " ", b, " of the batch has no tokens");
      T = std::max(T, seqs[b]->size());
    }
    std::vector<int64_t> id(T * B, pad_id);
    std::vector<float> m(T * B, 0.0f);
    for (size_t b = 0; b < seqs.size(); ++b)
      for (size_t t = 0; t < seqs[b]->size(); ++t) id[t * B + b] = (*seqs[b])[t], m[t * B + b] = 1.0f;
    ids = from_vector(id, {static_cast<int64_t>(T), B});
    mask = from_vector(m, {static_cast<int64_t>(T), B});
  };
  NliBatch out;
  pack(premises, "premise", out.premise, out.premise_mask);
  pack(hypotheses, "hypothesis", out.hypothesis, out.hypothesis_mask);
  return out;
}

// ---------------- pooling and paired LSTM runs ----------------

Tensor masked_max_over_time(const Tensor& x, const Tensor& mask) {
  EMBER_CHECK(x.dim() == 3 && mask.dim() == 2 && mask.size(0) == x.size(0) && mask.size(1) == x.size(1),
              "masked_max_over_time: x must be (T, B, D) and mask (T, B), got ", x.shape(), " and ", mask.shape());
  return max(masked_fill(x, padding_of(mask, x).unsqueeze(2), kMaskedScore), 0).first;  // (B, D)
}

Tensor masked_mean_over_time(const Tensor& x, const Tensor& mask) {
  EMBER_CHECK(x.dim() == 3 && mask.dim() == 2 && mask.size(0) == x.size(0) && mask.size(1) == x.size(1),
              "masked_mean_over_time: x must be (T, B, D) and mask (T, B), got ", x.shape(), " and ", mask.shape());
  Tensor m = mask.to(x.dtype()).to(x.device()).unsqueeze(2);  // (T, B, 1)
  return div(sum(mul(x, m), {0}), sum(m, {0}));                 // (B, D) / (B, 1)
}

std::pair<Tensor, Tensor> lstm_pair(nn::LSTM& lstm, const Tensor& a, const Tensor& b) {
  return lstm_pair_layers(lstm, a, b).back();
}

std::vector<std::pair<Tensor, Tensor>> lstm_pair_layers(nn::LSTM& lstm, const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(1) == b.size(1) && a.size(2) == b.size(2),
              "lstm_pair: a and b must be (T, B, D) with the same B and D, got ", a.shape(), " and ", b.shape());
  const int64_t Ta = a.size(0), Tb = b.size(0), T = std::max(Ta, Tb), B = a.size(1);
  auto padded = [&](const Tensor& x) {
    if (x.size(0) == T) return x;
    return concat({x, zeros({T - x.size(0), B, x.size(2)}, Options(x.dtype(), x.device()))}, 0);
  };
  TensorList outs = lstm.forward_layers(concat({padded(a), padded(b)}, 1), nn::LstmState{}).first;  // (T, 2B, H) each
  std::vector<std::pair<Tensor, Tensor>> pairs;
  for (const Tensor& out : outs) pairs.emplace_back(out.narrow(1, 0, B).narrow(0, 0, Ta), out.narrow(1, B, B).narrow(0, 0, Tb));
  return pairs;
}

// ---------------- the model ----------------

NliLstm::NliLstm(const NliLstmConfig& cfg, Generator* gen) : cfg_(cfg), gen_(gen) {
  EMBER_CHECK(cfg.vocab_size > 0 && cfg.emsize > 0 && cfg.nhid > 0 && cfg.layers > 0 && cfg.mlp_hidden > 0,
              "NliLstm: sizes must be positive, got ", cfg.to_json().dump());
  EMBER_CHECK(cfg.head == "infersent" || cfg.head == "esim", "NliLstm: head must be infersent or esim, got '",
              cfg.head, "'");
  EMBER_CHECK(cfg.dropout >= 0 && cfg.dropout < 1 && cfg.encoder_dropout >= 0 && cfg.encoder_dropout < 1,
              "NliLstm: dropout must be in [0, 1), got ", cfg.dropout, " and ", cfg.encoder_dropout);
  encoder_ = register_module("encoder", std::make_shared<nn::Embedding>(cfg.vocab_size, cfg.emsize, -1, gen));
  {  // as LstmLM's init (word_language_model's): U(-0.1, 0.1)
    NoGradGuard ng;
    Tensor ew = encoder_->weight();
    uniform_(ew, -0.1, 0.1, gen);
  }
  rnn_ = register_module("rnn", std::make_shared<nn::LSTM>(cfg.emsize, cfg.nhid, cfg.layers, cfg.encoder_dropout, gen));
  int64_t features = 4 * cfg.feature_size();
  if (cfg.head == "esim") {
    EMBER_CHECK(cfg.projection > 0 && cfg.composition > 0, "NliLstm: ESIM sizes must be positive, got ",
                cfg.to_json().dump());
    projection_ = register_module("projection",
                                  std::make_shared<nn::Linear>(4 * cfg.feature_size(), cfg.projection, true, gen));
    composition_ = register_module("composition", std::make_shared<nn::LSTM>(cfg.projection, cfg.composition, 1, 0.0, gen));
    features = 4 * cfg.composition;
  }
  // PyTorch's nn.Sequential(Dropout, Linear, Tanh, Dropout, Linear): classifier.1.*, classifier.4.*
  classifier_ = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier_->push_back(std::make_shared<nn::Dropout>(cfg.dropout, gen));
  classifier_->push_back(std::make_shared<nn::Linear>(features, cfg.mlp_hidden, true, gen));
  classifier_->push_back(std::make_shared<nn::Functional>([](const Tensor& x) { return tanh(x); }, "Tanh"));
  classifier_->push_back(std::make_shared<nn::Dropout>(cfg.dropout, gen));
  classifier_->push_back(std::make_shared<nn::Linear>(cfg.mlp_hidden, 3, true, gen));
}

std::pair<Tensor, Tensor> NliLstm::encode(const NliBatch& batch) {
  EMBER_CHECK(batch.premise.dim() == 2 && batch.hypothesis.dim() == 2 &&
                  batch.premise.size(1) == batch.hypothesis.size(1),
              "NliLstm: premise and hypothesis ids must be (T, B) with the same B, got ", batch.premise.shape(),
              " and ", batch.hypothesis.shape());
  const bool drop = is_training() && !frozen_;
  std::unique_ptr<NoGradGuard> ng;
  if (frozen_) ng = std::make_unique<NoGradGuard>();
  const Device dev = encoder_->weight().device();
  Tensor ep = dropout(encoder_->forward(batch.premise.to(dev)), cfg_.encoder_dropout, drop, gen_);     // (Tp, B, E)
  Tensor eh = dropout(encoder_->forward(batch.hypothesis.to(dev)), cfg_.encoder_dropout, drop, gen_);  // (Th, B, E)
  rnn_->train(drop);  // inter-layer dropout only while the encoder trains
  auto layers = lstm_pair_layers(*rnn_, ep, eh);
  TensorList fp, fh;  // (T, B, ·) pieces: [embedding;] [h_1; … ;] h_L
  if (cfg_.with_embeddings) fp.push_back(ep), fh.push_back(eh);
  for (size_t l = cfg_.all_layers ? 0 : layers.size() - 1; l < layers.size(); ++l)
    fp.push_back(layers[l].first), fh.push_back(layers[l].second);
  if (fp.size() == 1) return {fp[0], fh[0]};  // the last layer alone: no copy
  return {concat(fp, 2), concat(fh, 2)};      // (T, B, F)
}

Tensor NliLstm::forward(const NliBatch& batch) {
  auto [hp, hh] = encode(batch);
  return head(hp, batch.premise_mask, hh, batch.hypothesis_mask);
}

Tensor NliLstm::head(const Tensor& hp, const Tensor& mp, const Tensor& hh, const Tensor& mh) {
  const int64_t F = cfg_.feature_size();
  EMBER_CHECK(hp.dim() == 3 && hh.dim() == 3 && hp.size(2) == F && hh.size(2) == F && hp.size(1) == hh.size(1),
              "NliLstm head: encoder features must be (T, B, ", F, ") with the same B, got ", hp.shape(), " and ",
              hh.shape());
  EMBER_CHECK(mp.shape() == Shape({hp.size(0), hp.size(1)}) && mh.shape() == Shape({hh.size(0), hh.size(1)}),
              "NliLstm head: masks must be (T, B) like the hidden states, got ", mp.shape(), " and ", mh.shape());
  return cfg_.head == "esim" ? esim_head(hp, mp, hh, mh) : infersent_head(hp, mp, hh, mh);
}

Tensor NliLstm::infersent_head(const Tensor& hp, const Tensor& mp, const Tensor& hh, const Tensor& mh) {
  Tensor u = masked_max_over_time(hp, mp), v = masked_max_over_time(hh, mh);  // (B, H)
  return classifier_->forward(concat({u, v, abs(sub(u, v)), mul(u, v)}, 1));  // (B, 4H) → (B, 3)
}

Tensor NliLstm::esim_head(const Tensor& hp, const Tensor& mp, const Tensor& hh, const Tensor& mh) {
  // Batch-major for the attention products.
  Tensor a = transpose(hp, 0, 1), b = transpose(hh, 0, 1);  // (B, Tp, H), (B, Th, H)
  Tensor pad_p = transpose(padding_of(mp, hp), 0, 1).unsqueeze(1);  // (B, 1, Tp)
  Tensor pad_h = transpose(padding_of(mh, hh), 0, 1).unsqueeze(1);  // (B, 1, Th)
  Tensor e = matmul(a, transpose(b, 1, 2));                         // (B, Tp, Th)
  Tensor a_att = matmul(softmax(masked_fill(e, pad_h, kMaskedScore), 2), b);                   // (B, Tp, H)
  Tensor b_att = matmul(softmax(masked_fill(transpose(e, 1, 2), pad_p, kMaskedScore), 2), a);  // (B, Th, H)
  auto enhance = [&](const Tensor& x, const Tensor& x_att) {  // (B, T, H) → (T, B, P)
    Tensor m = concat({x, x_att, sub(x, x_att), mul(x, x_att)}, 2);  // (B, T, 4H)
    return contiguous(transpose(relu(projection_->forward(m)), 0, 1));
  };
  auto [ca, cb] = lstm_pair(*composition_, enhance(a, a_att), enhance(b, b_att));  // (Tp, B, C), (Th, B, C)
  Tensor v = concat({masked_mean_over_time(ca, mp), masked_max_over_time(ca, mp), masked_mean_over_time(cb, mh),
                     masked_max_over_time(cb, mh)},
                    1);  // (B, 4C)
  return classifier_->forward(v);
}

void NliLstm::load_encoder(const LstmLM& lm) {
  const LstmLMConfig& c = lm.config();
  EMBER_CHECK(c.vocab_size == cfg_.vocab_size && c.emsize == cfg_.emsize && c.nhid == cfg_.nhid &&
                  c.layers == cfg_.layers,
              "NliLstm::load_encoder: the LM is ", c.to_json().dump(), " but the encoder is ", cfg_.to_json().dump());
  encoder_->load_state_dict(lm.encoder()->state_dict(), /*strict=*/true);
  rnn_->load_state_dict(lm.rnn()->state_dict(), /*strict=*/true);
}

void NliLstm::freeze_encoder(bool frozen) {
  frozen_ = frozen;
  encoder_->set_requires_grad(!frozen);
  rnn_->set_requires_grad(!frozen);
}

TensorList NliLstm::encoder_parameters() const {
  TensorList out = encoder_->parameters(), r = rnn_->parameters();
  out.insert(out.end(), r.begin(), r.end());
  return out;
}

TensorList NliLstm::head_parameters() const {
  TensorList out;
  if (projection_) {
    for (auto* m : {static_cast<nn::Module*>(projection_.get()), static_cast<nn::Module*>(composition_.get())}) {
      TensorList p = m->parameters();
      out.insert(out.end(), p.begin(), p.end());
    }
  }
  TensorList c = classifier_->parameters();
  out.insert(out.end(), c.begin(), c.end());
  return out;
}

}  // namespace ember::models
