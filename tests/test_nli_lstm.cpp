// tests/test_nli_lstm.cpp — models::NliLstm (models/nli_lstm.h), Q3's classifier on the LM encoder.
//
//  - shapes of both heads, the batch layout (time-major, padding at the end, masks), bad batches;
//  - padding invariance: a pair's logits are the same alone and batched with longer pairs
//    (float64: to rounding; the masked softmax and pools read real positions only);
//  - float64 gradchecks (tests/gradcheck.h) of each head on hidden states with padding, and of the
//    whole network (embedding + LSTM + head) on a tiny config;
//  - the encoder: copied from an LstmLM by name, frozen (no grads, no graph) and unfrozen;
//  - a tiny end-to-end run through apps/common/nli_finetune on a generated rule-based NLI task:
//    the loss must fall well below log 3 and validation accuracy must beat chance clearly.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "apps/common/nli_finetune.h"
#include "models/nli_lstm.h"
#include "tests/gradcheck.h"

using namespace ember;
using models::NliBatch;
using models::NliLstm;
using models::NliLstmConfig;

namespace {

NliLstmConfig tiny_config(const std::string& head, int64_t vocab = 11, int64_t hidden = 3, bool with_emb = false) {
  NliLstmConfig c;
  c.vocab_size = vocab, c.emsize = 4, c.nhid = hidden, c.layers = 2, c.encoder_dropout = 0.0;
  c.with_embeddings = with_emb;
  c.head = head, c.projection = 4, c.composition = 3, c.mlp_hidden = 5, c.dropout = 0.0;
  return c;
}

using Seq = std::vector<int64_t>;

NliBatch batch_of(const std::vector<Seq>& p, const std::vector<Seq>& h, int64_t pad = 0) {
  std::vector<const Seq*> pp, hh;
  for (auto& s : p) pp.push_back(&s);
  for (auto& s : h) hh.push_back(&s);
  return models::make_nli_batch(pp, hh, pad);
}

// Same-sum float64 results computed through different batch shapes (GEMM tiling may change
// the order of a few additions): relative 1e-12.
constexpr double kF64BatchRtol = 1e-12;
constexpr double kF32BatchRtol = 1e-5;

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rtol, const char* what) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(what, " element ", i, ": ", a[i], " vs ", b[i]);
    CHECK(std::fabs(a[i] - b[i]) <= rtol * std::max(1.0, std::fabs(b[i])));
  }
}

}  // namespace

TEST_CASE("make_nli_batch: time-major ids, padding at the end, masks; bad batches are errors") {
  NliBatch b = batch_of({{5, 6, 7}, {8}}, {{1}, {2, 3}}, /*pad=*/9);
  CHECK(b.premise.shape() == Shape({3, 2}));
  CHECK(b.hypothesis.shape() == Shape({2, 2}));
  CHECK(b.premise.to_vector<int64_t>() == std::vector<int64_t>{5, 8, 6, 9, 7, 9});
  CHECK(b.premise_mask.to_vector<float>() == std::vector<float>{1, 1, 1, 0, 1, 0});
  CHECK(b.hypothesis.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 9, 3});
  CHECK(b.hypothesis_mask.to_vector<float>() == std::vector<float>{1, 1, 0, 1});
  CHECK_THROWS_WITH_AS(batch_of({{1}, {}}, {{1}, {2}}), doctest::Contains("premise 1 of the batch has no tokens"),
                       Error);
  CHECK_THROWS_AS(batch_of({{1}}, {{1}, {2}}), Error);
}

TEST_CASE("NliLstm: shapes of both heads, names, parameter split, config round trip") {
  for (const char* head : {"infersent", "esim"}) {
    CAPTURE(head);
    Generator gen(7);
    NliLstmConfig cfg = tiny_config(head);
    NliLstm model(cfg, &gen);
    model.eval();
    NliBatch b = batch_of({{1, 2, 3, 4}, {5}, {6, 7}}, {{1, 2}, {3, 4, 5}, {6}});
    auto [hp, hh] = model.encode(b);
    CHECK(hp.shape() == Shape({4, 3, 3}));
    CHECK(hh.shape() == Shape({3, 3, 3}));
    Tensor logits = model.forward(b);
    CHECK(logits.shape() == Shape({3, 3}));
    for (double v : logits.to_vector<float>()) CHECK(std::isfinite(v));

    std::set<std::string> names;
    for (auto& [n, t] : model.state_dict()) names.insert(n);
    for (const char* n : {"encoder.weight", "rnn.weight_ih_l0", "rnn.bias_hh_l1", "classifier.1.weight",
                          "classifier.4.bias"})
      CHECK_MESSAGE(names.count(n), n);
    CHECK(names.count("composition.weight_hh_l0") == (std::string(head) == "esim"));
    CHECK(model.encoder_parameters().size() + model.head_parameters().size() == model.parameters().size());
    CHECK(model.encoder_parameters().size() == 1 + 4 * 2);

    NliLstmConfig back = NliLstmConfig::from_json(cfg.to_json());
    CHECK(back.to_json() == cfg.to_json());

    NliLstm with_emb(tiny_config(head, 11, 3, /*with_emb=*/true), &gen);
    with_emb.eval();
    CHECK(with_emb.encode(b).first.shape() == Shape({4, 3, 4 + 3}));  // [embedding; hidden]
    CHECK(with_emb.forward(b).shape() == Shape({3, 3}));
  }
  nlohmann::json j = tiny_config("esim").to_json();
  j.erase("head");
  CHECK_THROWS_WITH_AS(NliLstmConfig::from_json(j), doctest::Contains("missing key 'head'"), Error);
  NliLstmConfig bad = tiny_config("bag");
  CHECK_THROWS_WITH_AS(std::make_shared<NliLstm>(bad), doctest::Contains("head must be infersent or esim"), Error);
}

TEST_CASE("NliLstm: all_layers features are [embedding; h_1; h_2], each layer's own states") {
  // Two models from the same seed: the encoder is built first, so its weights agree whatever the head's size.
  NliLstmConfig two = tiny_config("esim", 11, 3, /*with_emb=*/true), all = two;
  all.all_layers = true;
  CHECK(all.feature_size() == 4 + 2 * 3);
  CHECK(NliLstmConfig::from_json(all.to_json()).all_layers);
  nlohmann::json old = two.to_json();
  old.erase("all_layers");  // a checkpoint written before the option
  CHECK_FALSE(NliLstmConfig::from_json(old).all_layers);
  Generator g1(9), g2(9);
  NliLstm m_two(two, &g1), m_all(all, &g2);
  m_two.to(DType::F64), m_all.to(DType::F64);
  m_two.eval(), m_all.eval();
  NliBatch b = batch_of({{1, 2, 3, 4}, {5}}, {{6, 7}, {8, 9, 10}});
  auto [tp, th] = m_two.encode(b);  // (T, B, 4 + 3)
  auto [ap, ah] = m_all.encode(b);  // (T, B, 4 + 3 + 3)
  REQUIRE(ap.shape() == Shape({4, 2, 10}));
  REQUIRE(ah.shape() == Shape({3, 2, 10}));
  auto part = [](const Tensor& x, int64_t from, int64_t n) { return contiguous(x.narrow(2, from, n)).to_vector<double>(); };
  CHECK(part(ap, 0, 4) == part(tp, 0, 4));  // the word embedding
  CHECK(part(ap, 7, 3) == part(tp, 4, 3));  // the last layer: what the other features hold
  CHECK(part(ah, 7, 3) == part(th, 4, 3));
  // The middle slice is the first layer's output: a 1-layer LSTM with the l0 weights gives it.
  nn::LSTM first(4, 3, 1);
  first.to(DType::F64);
  std::map<std::string, Tensor> l0;
  for (auto& [n, t] : m_all.state_dict())
    if (n.rfind("rnn.", 0) == 0 && n.size() > 3 && n.substr(n.size() - 3) == "_l0") l0[n.substr(4)] = t;
  REQUIRE(l0.size() == 4);
  first.load_state_dict(l0);
  Tensor e = contiguous(ap.narrow(2, 0, 4)).narrow(1, 0, 1);  // premise 0: 4 real tokens, no padding
  std::vector<double> h1 = contiguous(first.forward(contiguous(e))).to_vector<double>();
  std::vector<double> got = part(contiguous(ap.narrow(1, 0, 1)), 4, 3);
  expect_close(got, h1, kF64BatchRtol, "first-layer states");
  CHECK(m_all.forward(b).shape() == Shape({2, 3}));
}

TEST_CASE("NliLstm: a pair's logits do not change when it is batched with longer pairs") {
  const std::vector<Seq> prem = {{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}, {2, 9, 4, 4, 1}};
  const std::vector<Seq> hyp = {{7, 2}, {3, 3, 3, 1, 2, 5}, {8, 6, 5, 4, 3, 2, 1, 2}};
  for (DType dt : {DType::F64, DType::F32}) {
    for (bool with_emb : {false, true})
    for (const char* head : {"infersent", "esim"}) {
      CAPTURE(head);
      CAPTURE(with_emb);
      Generator gen(11);
      NliLstm model(tiny_config(head, 11, 6, with_emb), &gen);
      model.to(dt);
      model.eval();
      NoGradGuard ng;
      std::vector<double> together = model.forward(batch_of(prem, hyp)).to(DType::F64).to_vector<double>();
      for (size_t i = 0; i < prem.size(); ++i) {
        std::vector<double> alone =
            model.forward(batch_of({prem[i]}, {hyp[i]}, /*pad=*/5)).to(DType::F64).to_vector<double>();
        std::vector<double> row(together.begin() + 3 * i, together.begin() + 3 * i + 3);
        expect_close(alone, row, dt == DType::F64 ? kF64BatchRtol : kF32BatchRtol, head);
      }
    }
  }
}

TEST_CASE("NliLstm: float64 gradcheck of each head on padded hidden states") {
  for (const char* head : {"infersent", "esim"}) {
    Generator gen(3);
    auto model = std::make_shared<NliLstm>(tiny_config(head), &gen);
    model->to(DType::F64);
    // Premise lengths 4 and 2, hypothesis lengths 1 and 3: padding on both sides of the attention.
    Tensor mp = from_vector(std::vector<float>{1, 1, 1, 1, 1, 0, 1, 0}, {4, 2});
    Tensor mh = from_vector(std::vector<float>{1, 1, 0, 1, 0, 1}, {3, 2});
    TensorList inputs = {test::rnd({4, 2, 3}, 21), test::rnd({3, 2, 3}, 22)};  // features (T, B, F = nhid)
    for (Tensor& p : model->head_parameters()) inputs.push_back(p);
    std::string what = std::string("NliLstm head ") + head;
    test::expect_gradcheck(
        what.c_str(),
        [model, mp, mh](const TensorList& in) -> TensorList { return {model->head(in[0], mp, in[1], mh)}; }, inputs);
  }
}

TEST_CASE("NliLstm: float64 gradcheck of the whole network (embedding, LSTM, head)") {
  for (int features : {0, 1, 2})  // hidden, [emb; h], [emb; h_1; h_2]
  for (const char* head : {"infersent", "esim"}) {
    const bool with_emb = features > 0;
    Generator gen(5);
    NliLstmConfig cfg = tiny_config(head, 11, 3, with_emb);
    cfg.all_layers = features == 2;
    auto model = std::make_shared<NliLstm>(cfg, &gen);
    model->to(DType::F64);
    NliBatch b = batch_of({{1, 2, 3}, {4}}, {{5, 6}, {7, 8, 9, 10}});
    TensorList inputs = model->parameters();
    std::string what = std::string("NliLstm network ") + head + (features == 2 ? " [emb; h1; h2]" : with_emb ? " [emb; h]" : "");
    test::expect_gradcheck(
        what.c_str(), [model, b](const TensorList&) -> TensorList { return {model->forward(b)}; }, inputs);
  }
}

TEST_CASE("NliLstm: the encoder comes from an LstmLM by name; frozen it gets no gradient") {
  models::LstmLMConfig lmc{11, 4, 3, 2, 0.0, false};
  Generator g1(1), g2(2);
  models::LstmLM lm(lmc, &g1);
  NliLstmConfig cfg = tiny_config("esim");
  cfg.encoder_like(lmc);
  NliLstm model(cfg, &g2);
  model.load_encoder(lm);
  auto lm_sd = lm.state_dict();
  auto sd = model.state_dict();
  for (auto& [n, t] : sd) {
    for (auto& [ln, lt] : lm_sd)
      if (ln == n) CHECK_MESSAGE(t.to_vector<float>() == lt.to_vector<float>(), n);
  }
  models::LstmLMConfig other = lmc;
  other.nhid = 5;
  models::LstmLM wrong(other, &g1);
  CHECK_THROWS_WITH_AS(model.load_encoder(wrong), doctest::Contains("the LM is"), Error);

  NliBatch b = batch_of({{1, 2, 3}, {4}}, {{5, 6}, {7}});
  model.freeze_encoder(true);
  model.train();
  auto [hp, hh] = model.encode(b);
  CHECK_FALSE(hp.requires_grad());
  sum(model.forward(b)).backward();
  for (const Tensor& p : model.encoder_parameters()) CHECK_FALSE(p.grad().defined());
  for (const Tensor& p : model.head_parameters()) CHECK(p.grad().defined());
  model.zero_grad();
  model.freeze_encoder(false);
  sum(model.forward(b)).backward();
  for (const Tensor& p : model.encoder_parameters()) CHECK(p.grad().defined());
}

namespace {

// A rule-based NLI task over a vocabulary of 12 content words (ids 2..13), "not" (1) and padding
// (0). Premise: 3–6 distinct content words. Hypothesis: entailment = one of the premise's words;
// contradiction = "not" + one of them; neutral = a word the premise lacks (with "not" half the
// time). Deciding needs both sentences: the hypothesis alone says nothing about the label.
struct Synthetic {
  std::vector<Seq> premise, hypothesis;
  std::vector<int> labels;
  std::vector<int64_t> lengths;
};

Synthetic make_synthetic(int64_t n, uint64_t seed) {
  Generator g(seed);
  auto draw = [&](uint64_t m) { return static_cast<int64_t>(g.next_u64() % m); };
  Synthetic s;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int64_t> words;
    const int64_t len = 3 + draw(4);
    while (static_cast<int64_t>(words.size()) < len) {
      int64_t w = 2 + draw(12);
      if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(w);
    }
    const int label = static_cast<int>(draw(3));
    Seq hyp;
    if (label == 0 || label == 2) {
      if (label == 2) hyp.push_back(1);
      hyp.push_back(words[draw(words.size())]);
    } else {
      int64_t w;
      do w = 2 + draw(12);
      while (std::find(words.begin(), words.end(), w) != words.end());
      if (draw(2)) hyp.push_back(1);
      hyp.push_back(w);
    }
    s.lengths.push_back(len + static_cast<int64_t>(hyp.size()));
    s.premise.push_back(words);
    s.hypothesis.push_back(hyp);
    s.labels.push_back(label);
  }
  return s;
}

}  // namespace

TEST_CASE("NliLstm: a tiny end-to-end run on a rule-based task learns it (loss falls, accuracy >> chance)") {
  Synthetic train = make_synthetic(2000, 1), valid = make_synthetic(300, 2);
  for (std::string head : {"infersent", "esim"}) {
    CAPTURE(head);
    Generator gen(17);
    NliLstmConfig cfg = tiny_config(head, 14, 16);
    cfg.emsize = 16, cfg.layers = 1, cfg.projection = 16, cfg.composition = 16, cfg.mlp_hidden = 32;
    NliLstm model(cfg, &gen);
    auto logits_on = [&model](const Synthetic& s) {
      return [&model, &s](const std::vector<int64_t>& rows, bool train_mode) {
        model.train(train_mode);
        std::vector<const Seq*> p, h;
        for (int64_t r : rows) p.push_back(&s.premise[r]), h.push_back(&s.hypothesis[r]);
        return model.forward(models::make_nli_batch(p, h, 0));
      };
    };
    nli::EvalResult before = nli::evaluate(logits_on(valid), valid.labels, valid.lengths, 100, "valid", false);
    // A high rate: attention needs its scores (dot products of small LSTM states) to grow.
    optim::AdamW opt(model.parameters(), 3e-2, 0.9, 0.999, 1e-8, 0.0);
    nli::TrainConfig tc;
    tc.epochs = 15, tc.batch_size = 32, tc.eval_batch_size = 100, tc.clip = 5.0, tc.progress = false;
    nli::FitResult fit = nli::fit(model, logits_on(train), logits_on(valid), {train.labels, train.lengths},
                                  {valid.labels, valid.lengths}, opt, nullptr, tc, head, gen);
    const double last_loss = fit.history.back().at("train_loss").get<double>();
    nli::EvalResult va = nli::evaluate(logits_on(valid), valid.labels, valid.lengths, 100, "valid", false);
    MESSAGE(head, ": valid loss before training ", before.loss, ", last epoch's train loss ", last_loss,
            ", valid accuracy ", va.accuracy());
    CHECK(before.loss == doctest::Approx(std::log(3.0)).epsilon(0.1));  // an untrained model: ~log 3
    CHECK(last_loss < 0.4 * before.loss);
    CHECK(va.accuracy() > 0.85);  // chance: 1/3
    CHECK(va.accuracy() == doctest::Approx(fit.best_valid_accuracy));  // fit restored the best epoch
  }
}
