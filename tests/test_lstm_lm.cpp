// tests/test_lstm_lm.cpp — models::LstmLM (models/lstm_lm.h), the Q2 language model.
//
//  - parity with pytorch/examples word_language_model's RNNModel (LSTM, 2 layers, tied and
//    untied) from tests/fixtures/lstm_lm.json (scripts/fixtures/lstm_lm.py): the state_dict key
//    list, the logits, final (h_n, c_n), the loss, and the gradient of every parameter and of
//    the initial state, in float64;
//  - a tiny training run on a generated corpus read through datasets::load_wikitext, whose loss
//    must fall well below its start and whose validation perplexity must end far below the
//    vocabulary size;
//  - the checkpoint folder: save_lstm_lm → load_lstm_lm gives the same weights bit for bit, the
//    same vocabulary and a config.json with the tokenisation; damaged folders give errors that
//    name the file and the problem;
//  - the evaluation convention of q2_wikitext: perplexity = exp(mean NLL per token over the
//    whole stream), windows weighted by their token counts, the state carried across windows.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "tests/test_util.h"
#include "datasets/wikitext.h"
#include "engine/optim/optim.h"
#include "models/lstm_lm.h"
#include "tests/fixtures.h"

using namespace ember;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::TempDir;
using test::write_text;
using test::expect_error;

// Against PyTorch in float64: |ours − torch| ≤ kFixtureRtol·|torch| + kFixtureAtol. Both sides
// compute the same sums in a different order, so they differ by a few ulps of the terms; the
// absolute floor covers gradient entries that cancel to near zero.
constexpr double kFixtureRtol = 1e-10;
constexpr double kFixtureAtol = 1e-13;
// Two float64 evaluations of the same quantity by different summation orders (evaluation test).
constexpr double kF64SameSumRtol = 1e-12;

const json& fixtures() { return test::fixture("lstm_lm.json"); }

std::vector<std::string> keys(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

template <class F>
Tensor from_formula(const Shape& shape, F f) {
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = f(static_cast<int64_t>(i));
  return from_vector(v, shape);
}

// The fixture's filling: the tensor at state_dict position k gets 0.3·sin(0.37·i + 1.3·k) at flat
// index i; a tensor listed twice (decoder.weight when tied) keeps its first filling.
void fill_parameters(models::LstmLM& model) {
  std::set<const void*> done;
  nn::NamedTensors sd = model.state_dict();
  for (size_t k = 0; k < sd.size(); ++k) {
    Tensor& t = sd[k].second;
    if (!done.insert(t.raw_data()).second) continue;
    REQUIRE(t.is_contiguous());
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = 0.3 * std::sin(0.37 * static_cast<double>(i) + 1.3 * static_cast<double>(k));
  }
}

void expect_matches_torch(const Tensor& got, const json& want, const std::string& what) {
  test::expect_close(got, test::fixture_tensor(want), kFixtureRtol, kFixtureAtol, what);
}

// One variant of the fixture ("tied" / "untied") end to end.
void check_against_torch(const char* variant) {
  const json& fx = fixtures().at(variant);
  models::LstmLMConfig cfg = models::LstmLMConfig::from_json(fx.at("config"));
  models::LstmLM model(cfg);
  model.to(DType::F64);
  model.train();  // dropout 0: the training path, the one that produces gradients

  // The state_dict lists exactly PyTorch's keys, in its order (both decoder.weight and
  // encoder.weight when tied).
  CHECK(keys(model.state_dict()) == fx.at("state_dict_keys").get<std::vector<std::string>>());
  fill_parameters(model);
  for (const auto& [name, t] : model.state_dict()) expect_matches_torch(t, fx.at("parameters").at(name), name + " (filled)");

  const int64_t T = 5, B = 3, L = cfg.layers, H = cfg.nhid, V = cfg.vocab_size;
  std::vector<int64_t> ids(T * B), targets(T * B);
  for (int64_t f = 0; f < T * B; ++f) ids[f] = (7 * f + 3) % V, targets[f] = (5 * f + 1) % V;
  CHECK(ids == fx.at("ids").at("data").get<std::vector<int64_t>>());
  CHECK(targets == fx.at("targets").at("data").get<std::vector<int64_t>>());
  Tensor h0 = from_formula({L, B, H}, [](int64_t f) { return 0.2 * std::sin(0.9 * f + 0.1); }).requires_grad_(true);
  Tensor c0 = from_formula({L, B, H}, [](int64_t f) { return 0.3 * std::cos(0.7 * f + 0.4); }).requires_grad_(true);
  expect_matches_torch(h0, fx.at("h0"), "h0");
  expect_matches_torch(c0, fx.at("c0"), "c0");

  auto [logits, state] = model.forward(from_vector(ids, {T, B}), nn::LstmState{h0, c0});
  Tensor loss = cross_entropy(logits.reshape({T * B, V}), from_vector(targets, {T * B}));
  expect_matches_torch(logits, fx.at("logits"), "logits (T, B, V)");
  expect_matches_torch(state.h, fx.at("h_n"), "h_n (L, B, H)");
  expect_matches_torch(state.c, fx.at("c_n"), "c_n (L, B, H)");
  double want_loss = fx.at("loss").get<double>();
  CHECK(std::fabs(loss.item() - want_loss) <= kFixtureRtol * std::fabs(want_loss) + kFixtureAtol);

  loss.backward();
  for (const auto& [name, t] : model.state_dict()) expect_matches_torch(t.grad(), fx.at("grads").at(name), "grad " + name);
  expect_matches_torch(h0.grad(), fx.at("grad_h0"), "grad h0");
  expect_matches_torch(c0.grad(), fx.at("grad_c0"), "grad c0");
}




// A corpus with structure: lines of the 20-word cycle p0 … p19, each word replaced with
// probability 1/10 by one of ten noise words n0 … n9. A model that has learnt the cycle pays
// only for the noise (about 0.6 nats per token); one that has not pays log(31) ≈ 3.4.
std::string synthetic_text(int lines, uint32_t seed) {
  std::mt19937 rng(seed);  // raw outputs only: the same stream on every standard library
  std::string text;
  for (int l = 0; l < lines; ++l) {
    for (int w = 0; w < 20; ++w) {
      if (w) text += ' ';
      text += rng() % 10 == 0 ? "n" + std::to_string(rng() % 10) : "p" + std::to_string(w);
    }
    text += '\n';
  }
  return text;
}

// q2_wikitext's evaluation: windows of `bptt` rows, the state carried from one to the next, each
// window's mean cross-entropy weighted by its token count. Returns the mean NLL per token.
double windowed_mean_nll(models::LstmLM& model, const Tensor& data, int64_t bptt, bool carry_state = true) {
  return models::mean_nll(model, data, bptt, Device::cpu(), nullptr, carry_state);
}

}  // namespace

// ================================ parity with PyTorch ================================

TEST_CASE("lstm_lm: untied 2-layer model matches word_language_model's RNNModel (float64)") {
  check_against_torch("untied");
}

TEST_CASE("lstm_lm: tied 2-layer model matches word_language_model's RNNModel (float64)") {
  check_against_torch("tied");
}

TEST_CASE("lstm_lm: tied decoder.weight is encoder.weight, also after .to(F64)") {
  models::LstmLM model({13, 6, 6, 2, 0.0, true});
  model.to(DType::F64);
  auto sd = model.state_dict();
  const Tensor* enc = nullptr;
  const Tensor* dec = nullptr;
  for (const auto& [name, t] : sd) {
    if (name == "encoder.weight") enc = &t;
    if (name == "decoder.weight") dec = &t;
  }
  REQUIRE(enc != nullptr);
  REQUIRE(dec != nullptr);
  CHECK(enc->raw_data() == dec->raw_data());
  // named_parameters lists the shared tensor once (an optimizer updates it once).
  CHECK(model.named_parameters().size() == sd.size() - 1);
  CHECK_THROWS_AS(models::LstmLM({13, 6, 8, 1, 0.0, true}), Error);  // tying needs emsize == nhid
}

// ================================ a tiny training run ================================

TEST_CASE("lstm_lm: a tiny training run on a structured corpus drives the loss down") {
  TempDir d;
  write_text(d.file("train.txt"), synthetic_text(400, 1));
  write_text(d.file("valid.txt"), synthetic_text(40, 2));
  write_text(d.file("test.txt"), synthetic_text(40, 3));
  datasets::Corpus corpus = datasets::load_wikitext(d.str());
  CHECK(corpus.layout == "word_language_model");
  CHECK(corpus.vocab.size() == 31);  // p0..p19, n0..n9, <eos>
  CHECK(corpus.train.size() == 400u * 21u);

  const int64_t B = 16, bptt = 20, steps = 100;
  Tensor train = datasets::batchify(corpus.train, B);  // (525, 16)
  Tensor valid = datasets::batchify(corpus.valid, 10);
  Generator gen(1234);
  models::LstmLM model({corpus.vocab.size(), 16, 16, 1, 0.0, false}, &gen);
  TensorList params = model.parameters();
  optim::SGD opt(params, 10.0);
  const double initial_valid = windowed_mean_nll(model, valid, bptt);

  model.train();
  nn::LstmState state;
  std::vector<double> losses;
  for (int64_t s = 0, i = 0; s < steps; ++s, i += bptt) {
    if (i >= train.size(0) - 1) i = 0, state = nn::LstmState{};  // next epoch
    datasets::BpttWindow w = datasets::bptt_window(train, i, bptt);
    state = state.detach();
    opt.zero_grad();
    auto [logits, next] = model.forward(w.input, state);
    state = next;
    int64_t n = w.target.numel();
    Tensor loss = cross_entropy(logits.reshape({n, -1}), w.target.reshape({n}));
    loss.backward();
    optim::clip_grad_norm_(params, 0.25);
    opt.step();
    losses.push_back(loss.item());
  }
  double first = losses.front(), last = 0;
  for (size_t k = losses.size() - 10; k < losses.size(); ++k) last += losses[k] / 10;
  double valid_ppl = std::exp(windowed_mean_nll(model, valid, bptt));
  INFO("first loss ", first, ", mean of last 10 ", last, "; valid ppl ", std::exp(initial_valid), " -> ", valid_ppl);
  CHECK(first > 0.9 * std::log(31.0));  // starts near uniform
  CHECK(last < 0.5 * first);
  CHECK(valid_ppl < 0.25 * static_cast<double>(corpus.vocab.size()));
  CHECK(valid_ppl < 0.25 * std::exp(initial_valid));
}

// ================================ the checkpoint folder ================================

TEST_CASE("lstm_lm: save_lstm_lm -> load_lstm_lm round trip (untied and tied)") {
  datasets::Vocab vocab;
  for (const char* w : {"<unk>", "<eos>", "the", "cat", "sat", "on", "mat"}) vocab.add(w);
  for (bool tied : {false, true}) {
    CAPTURE(tied);
    TempDir d;
    std::string dir = d.file("ckpt");  // does not exist yet: save creates it
    Generator gen(7);
    models::LstmLMConfig cfg{vocab.size(), 5, 5, 2, 0.3, tied};
    models::LstmLM model(cfg, &gen);
    models::save_lstm_lm(dir, model, vocab, {{"epoch", 3}, {"valid_perplexity", 123.5}});
    for (const char* f : {"model.safetensors", "vocab.txt", "config.json"}) CHECK(fs::exists(dir + "/" + f));

    models::LoadedLstmLM back = models::load_lstm_lm(dir);
    CHECK(back.vocab.words() == vocab.words());
    CHECK(back.vocab.unk_id() == 0);
    CHECK(back.model->config().to_json() == cfg.to_json());
    auto a = model.state_dict(), b = back.model->state_dict();
    REQUIRE(keys(a) == keys(b));
    for (size_t k = 0; k < a.size(); ++k) {
      CAPTURE(a[k].first);
      CHECK(b[k].second.dtype() == a[k].second.dtype());
      CHECK(b[k].second.to_vector<float>() == a[k].second.to_vector<float>());  // bit for bit
    }
    if (tied) CHECK(b.front().second.raw_data() == b[b.size() - 2].second.raw_data());  // still one tensor

    // config.json: the model, how the text was tokenised (for Q3), and the caller's extras.
    std::ifstream f(dir + "/config.json");
    json config = json::parse(f);
    CHECK(config == back.config);
    CHECK(config.at("model") == cfg.to_json());
    CHECK(config.at("tokenisation") == models::wikitext_tokenisation());
    CHECK(config.at("tokenisation").at("end_of_line") == "<eos>");
    CHECK(config.at("tokenisation").at("unknown") == "<unk>");
    CHECK(config.at("epoch") == 3);
    CHECK(config.at("valid_perplexity") == 123.5);
  }
}

TEST_CASE("lstm_lm: load_lstm_lm rejects damaged checkpoint folders with the file named") {
  datasets::Vocab vocab;
  for (const char* w : {"<unk>", "<eos>", "a", "b"}) vocab.add(w);
  TempDir d;
  models::LstmLM model({vocab.size(), 4, 4, 1, 0.0, true});
  models::save_lstm_lm(d.str(), model, vocab);
  std::string cfg_path = d.file("config.json");
  std::ifstream in(cfg_path);
  json good = json::parse(in);

  expect_error([&] { models::load_lstm_lm(d.file("nowhere")); }, "cannot open '" + d.file("nowhere") + "/config.json'");
  write_text(cfg_path, "{\"model\": {\"vocab_size\": 4,");  // truncated
  expect_error([&] { models::load_lstm_lm(d.str()); }, "'" + cfg_path + "' is not valid JSON");
  write_text(cfg_path, "{\"epoch\": 1}");
  expect_error([&] { models::load_lstm_lm(d.str()); }, "has no \"model\" entry");
  json no_nhid = good;
  no_nhid["model"].erase("nhid");
  write_text(cfg_path, no_nhid.dump());
  expect_error([&] { models::load_lstm_lm(d.str()); }, "missing key 'nhid'");
  json wrong_vocab = good;
  wrong_vocab["model"]["vocab_size"] = 5;
  write_text(cfg_path, wrong_vocab.dump());
  expect_error([&] { models::load_lstm_lm(d.str()); }, "config says vocab_size 5 but vocab.txt has 4 words");
  json wrong_size = good;
  wrong_size["model"]["nhid"] = 6;
  wrong_size["model"]["emsize"] = 6;
  write_text(cfg_path, wrong_size.dump());
  expect_error([&] { models::load_lstm_lm(d.str()); }, "encoder.weight");  // shape mismatch names the tensor
  write_text(cfg_path, good.dump());
  CHECK_NOTHROW(models::load_lstm_lm(d.str()));
}

// ================================ the evaluation convention ================================

TEST_CASE("lstm_lm: perplexity is exp(mean NLL per token) over the whole stream, state carried") {
  // 23 ids in 2 streams → data (11, 2): 10 predicted rows, windows of bptt 4 have 4, 4 and 2 rows,
  // so a plain mean of the windows' means would weight the last window's tokens double.
  const int64_t V = 7, B = 2, bptt = 4;
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 23; ++i) ids.push_back((3 * i * i + i + 2) % V);
  Tensor data = datasets::batchify(ids, B);
  REQUIRE(data.shape() == Shape{11, B});
  Generator gen(99);
  models::LstmLM model({V, 5, 6, 2, 0.0, false}, &gen);
  model.to(DType::F64);
  double windowed = windowed_mean_nll(model, data, bptt);

  // By hand: one forward over all 10 input rows from the zero state, then
  // NLL(t, b) = logsumexp(logits[t, b, :]) − logits[t, b, target], target = data[t + 1, b].
  model.eval();
  NoGradGuard ng;
  Tensor logits = model.forward(data.narrow(0, 0, 10), nn::LstmState{}).first;  // (10, B, V)
  std::vector<double> z = logits.to_vector<double>();
  std::vector<int64_t> d = data.to_vector<int64_t>();
  double sum = 0;
  for (int64_t t = 0; t < 10; ++t)
    for (int64_t b = 0; b < B; ++b) {
      const double* row = &z[static_cast<size_t>((t * B + b) * V)];
      double mx = *std::max_element(row, row + V), s = 0;
      for (int64_t v = 0; v < V; ++v) s += std::exp(row[v] - mx);
      sum += mx + std::log(s) - row[d[static_cast<size_t>((t + 1) * B + b)]];
    }
  double by_hand = sum / 20.0;  // 20 predicted tokens: (11 − 1) rows × 2 streams
  INFO("windowed ", windowed, " by hand ", by_hand);
  CHECK(std::fabs(std::exp(windowed) - std::exp(by_hand)) <= kF64SameSumRtol * std::exp(by_hand));
  // Resetting the state at each window is a different (wrong) number: the carry matters.
  CHECK(std::fabs(windowed_mean_nll(model, data, bptt, /*carry_state=*/false) - by_hand) > 1e-6);
}
