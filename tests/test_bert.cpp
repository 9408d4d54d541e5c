// tests/test_bert.cpp — models::BertModel (models/bert.h), the encoder of Q4.
//
//  - parity with Hugging Face transformers' BertModel (tests/fixtures/bert_tiny.safetensors, from
//    scripts/fixtures/bert.py): 2 layers, hidden 64, 4 heads, a padded batch with two token types;
//    last_hidden_state, pooler_output, the loss and the gradient of every parameter, in float64;
//  - the names: ember's state_dict is exactly Hugging Face's parameter list;
//  - loading: a `bert.` prefix, heads and position_ids are accepted; an absent pooler is a note;
//    missing, unexpected and mis-shaped tensors are one error naming each; config.json checks;
//  - the real all-MiniLM-L6-v2 checkpoint against Hugging Face's hidden states at a float32
//    tolerance, where scripts/fetch-weights.sh has fetched it (skipped visibly otherwise).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/test_util.h"
#include "engine/io/safetensors.h"
#include "models/bert.h"
#include "tests/fixtures.h"

using namespace ember;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using test::TempDir;
using test::expect_error;

// float64 against Hugging Face in float64: the same sums in another order (GEMM blocking, softmax,
// LayerNorm), so a few ulps of the terms; the floor covers gradients that cancel to near zero.
constexpr double kF64Rtol = 1e-9;
constexpr double kF64Atol = 1e-12;
// float32 against Hugging Face in float32 through 6 layers: both round every op to float32.
constexpr double kF32Rtol = 1e-4;
constexpr double kF32Atol = 2e-5;

const safetensors::File& tiny() {
  static safetensors::File f = safetensors::load(test::fixture_path("bert_tiny.safetensors"));
  return f;
}

models::BertConfig tiny_config() { return models::BertConfig::from_json(json::parse(tiny().metadata.at("config"))); }

// The fixture's parameters under their Hugging Face names ("param." stripped).
std::vector<std::pair<std::string, Tensor>> tiny_params(const std::string& prefix = "") {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, t] : tiny().tensors)
    if (name.rfind("param.", 0) == 0) out.emplace_back(prefix + name.substr(6), t);
  return out;
}

std::shared_ptr<models::BertModel> tiny_model() {
  auto model = std::make_shared<models::BertModel>(tiny_config());
  model->to(DType::F64);
  models::bind_bert_weights(model, tiny_params(), "bert_tiny.safetensors");
  model->eval();
  return model;
}



}  // namespace

TEST_CASE("bert: state_dict names are exactly Hugging Face BertModel's") {
  models::BertModel model(tiny_config());
  std::set<std::string> ours, theirs;
  for (const auto& [name, t] : model.state_dict()) ours.insert(name);
  for (const auto& [name, t] : tiny_params()) theirs.insert(name);
  CHECK(ours == theirs);
  CHECK(ours.count("encoder.layer.1.attention.self.query.bias") == 1);
  CHECK(ours.count("encoder.layer.0.attention.output.LayerNorm.weight") == 1);
  CHECK(ours.count("encoder.layer.0.output.dense.weight") == 1);
  CHECK(ours.count("pooler.dense.weight") == 1);
  CHECK(model.num_parameters() == [] {
    int64_t n = 0;
    for (const auto& [name, t] : tiny_params()) n += t.numel();
    return n;
  }());
}

TEST_CASE("bert: float64 parity with Hugging Face (hidden states, pooler, every gradient)") {
  auto model = tiny_model();
  const safetensors::File& fx = tiny();
  auto out = model->forward(fx.get("input_ids"), fx.get("token_type_ids"), fx.get("attention_mask"));
  test::expect_close(out.last_hidden_state, fx.get("last_hidden_state"), kF64Rtol, kF64Atol, "last_hidden_state");
  test::expect_close(out.pooler_output, fx.get("pooler_output"), kF64Rtol, kF64Atol, "pooler_output");
  Tensor loss = add(sum(mul(out.last_hidden_state, fx.get("WL"))), sum(mul(out.pooler_output, fx.get("WP"))));
  CHECK(loss.item() == doctest::Approx(fx.get("loss").item()).epsilon(1e-12));
  loss.backward();
  int checked = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    REQUIRE_MESSAGE(p.grad().defined(), name, ": no gradient");
    test::expect_close(p.grad(), fx.get("grad." + name), kF64Rtol, kF64Atol, "grad " + name);
    ++checked;
  }
  CHECK(checked == static_cast<int>(tiny_params().size()));
}

TEST_CASE("bert: padding changes nothing at the real positions") {
  // Row 2 of the fixture has length 3: running it alone, unpadded, gives the same 3 states.
  auto model = tiny_model();
  const safetensors::File& fx = tiny();
  Tensor ids = fx.get("input_ids").narrow(0, 2, 1).narrow(1, 0, 3).contiguous();
  Tensor types = fx.get("token_type_ids").narrow(0, 2, 1).narrow(1, 0, 3).contiguous();
  Tensor alone = model->encode(ids, types, Tensor());
  Tensor padded = fx.get("last_hidden_state").narrow(0, 2, 1).narrow(1, 0, 3).contiguous();
  test::expect_close(alone, padded, kF64Rtol, kF64Atol, "unpadded row");
  // The masked mean over the padded batch equals the plain mean of the real positions.
  Tensor pooled = models::masked_mean_pool(fx.get("last_hidden_state"), fx.get("attention_mask"));
  test::expect_close(pooled.narrow(0, 2, 1), mean(padded, {1}), 1e-12, 1e-14, "masked mean");
}

TEST_CASE("bert: loading accepts BertFor* checkpoints and reports what it skipped") {
  auto params = tiny_params("bert.");
  params.emplace_back("bert.embeddings.position_ids", arange(0, 16, 1, Options(DType::I64)).reshape({1, 16}));
  params.emplace_back("classifier.weight", zeros({3, 64}, DType::F64));
  params.emplace_back("cls.predictions.bias", zeros({50}, DType::F64));
  auto model = std::make_shared<models::BertModel>(tiny_config());
  model->to(DType::F64);
  models::LoadedBert r = models::bind_bert_weights(model, params, "for-classification");
  CHECK(r.ignored.size() == 3);
  CHECK(r.notes.empty());
  CHECK(model->has_pretrained_pooler());

  // No pooler: loads, with a note, and the model says so.
  std::vector<std::pair<std::string, Tensor>> no_pooler;
  for (auto& [n, t] : tiny_params())
    if (n.rfind("pooler.", 0) != 0) no_pooler.emplace_back(n, t);
  auto model2 = std::make_shared<models::BertModel>(tiny_config());
  model2->to(DType::F64);
  models::LoadedBert r2 = models::bind_bert_weights(model2, no_pooler, "no-pooler");
  REQUIRE(r2.notes.size() == 1);
  CHECK(r2.notes[0].find("no pooler") != std::string::npos);
  CHECK_FALSE(model2->has_pretrained_pooler());
}

TEST_CASE("bert: a checkpoint that does not fit gives one error naming every tensor") {
  auto params = tiny_params();
  std::vector<std::pair<std::string, Tensor>> bad;
  for (auto& [n, t] : params) {
    if (n == "encoder.layer.1.output.dense.bias") continue;  // missing
    if (n == "encoder.layer.0.attention.self.key.weight") {
      bad.emplace_back(n, zeros({64, 63}, DType::F64));  // wrong shape
      continue;
    }
    bad.emplace_back(n, t);
  }
  bad.emplace_back("encoder.layer.7.output.dense.bias", zeros({64}, DType::F64));  // unexpected
  auto model = std::make_shared<models::BertModel>(tiny_config());
  model->to(DType::F64);
  try {
    models::bind_bert_weights(model, bad, "broken.safetensors");
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string m = e.what();
    INFO(m);
    CHECK(m.find("broken.safetensors") != std::string::npos);
    CHECK(m.find("missing key 'encoder.layer.1.output.dense.bias'") != std::string::npos);
    CHECK(m.find("unexpected key 'encoder.layer.7.output.dense.bias'") != std::string::npos);
    CHECK(m.find("shape mismatch for 'encoder.layer.0.attention.self.key.weight'") != std::string::npos);
  }
}

TEST_CASE("bert: config.json fields and what is not supported") {
  json j = models::BertConfig::named("mini").to_json();
  models::BertConfig c = models::BertConfig::from_json(j);
  CHECK(c.num_hidden_layers == 4);
  CHECK(c.hidden_size == 256);
  CHECK(c.intermediate_size == 1024);
  CHECK(c.to_json() == j);
  auto with = [&](const char* key, json v) {
    json k = j;
    k[key] = std::move(v);
    return k;
  };
  expect_error([&] { models::BertConfig::from_json(with("hidden_act", "relu")); }, "hidden_act 'relu'");
  expect_error([&] { models::BertConfig::from_json(with("position_embedding_type", "relative_key")); },
               "position_embedding_type 'relative_key'");
  expect_error([&] { models::BertConfig::from_json(with("num_attention_heads", 3)); }, "not a multiple");
  expect_error([&] { models::BertConfig::from_json(with("hidden_size", "big")); }, "must be an integer");
  expect_error([&] { models::BertConfig::from_json(with("model_type", "gpt2")); }, "not a BERT model");
  json missing = j;
  missing.erase("vocab_size");
  expect_error([&] { models::BertConfig::from_json(missing); }, "missing required field 'vocab_size'");
  expect_error([] { models::BertConfig::named("huge"); }, "unknown config 'huge'");
}

TEST_CASE("bert: load_bert reads a checkpoint folder and names what is missing") {
  TempDir dir;
  expect_error([&] { models::load_bert((dir.path / "nope").string()); }, "is not a folder");
  expect_error([&] { models::load_bert(dir.path.string()); }, "has no config.json");
  models::BertConfig cfg = tiny_config();
  { std::ofstream(dir.path / "config.json") << cfg.to_json().dump(2); }
  expect_error([&] { models::load_bert(dir.path.string()); }, "has no model.safetensors");
  // float32 weights, as Hugging Face ships them; the model loads in float32.
  std::vector<std::pair<std::string, Tensor>> f32;
  for (auto& [n, t] : tiny_params()) f32.emplace_back(n, t.to(DType::F32));
  safetensors::save((dir.path / "model.safetensors").string(), f32);
  models::LoadedBert r = models::load_bert(dir.path.string());
  CHECK(r.model->config().hidden_size == 64);
  CHECK(r.model->state_dict().front().second.dtype() == DType::F32);
  { std::ofstream(dir.path / "config.json") << "{ not json"; }
  expect_error([&] { models::load_bert(dir.path.string()); }, "is not valid JSON");
}

TEST_CASE("bert: all-MiniLM-L6-v2 matches Hugging Face in float32 (when fetched)") {
  const char* env = std::getenv("EMBER_WEIGHTS");
  fs::path root = env ? fs::path(env) : fs::path(EMBER_FIXTURES) / ".." / ".." / "weights";
  fs::path dir = root / "all-MiniLM-L6-v2";
  if (!fs::exists(dir / "model.safetensors")) {
    MESSAGE("SKIPPED: no ", dir.string(), " (run bash scripts/fetch-weights.sh to fetch all-MiniLM-L6-v2)");
    return;
  }
  models::LoadedBert r = models::load_bert(dir.string());
  r.model->eval();
  CHECK(r.model->has_pretrained_pooler());
  safetensors::File fx = safetensors::load(test::fixture_path("bert_minilm.safetensors"));
  NoGradGuard ng;
  auto out = r.model->forward(fx.get("input_ids"), fx.get("token_type_ids"), fx.get("attention_mask"));
  test::expect_close(out.last_hidden_state, fx.get("last_hidden_state"), kF32Rtol, kF32Atol, "MiniLM hidden");
  test::expect_close(out.pooler_output, fx.get("pooler_output"), kF32Rtol, kF32Atol, "MiniLM pooler");
  test::expect_close(models::masked_mean_pool(out.last_hidden_state, fx.get("attention_mask")), fx.get("mean_pooled"),
                     kF32Rtol, kF32Atol, "MiniLM mean pooled");
}
