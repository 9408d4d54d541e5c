// apps/q3_mnli_lstm.cpp — Q3: the Q2 LSTM language model as feature extractor, fine-tuned on MultiNLI.
//
//   Part A  the splits Q4 uses (datasets::make_nli_splits: test = MNLI dev_matched, valid = 2,000 of
//           dev_mismatched, train = the rest + SNLI), turned into the LM's own tokens
//           (datasets/wikitext_tokenizer.h), each sentence led by "<eos>" as every line of WikiText
//           is in the LM's training stream; the out-of-vocabulary rate of each split is printed.
//   Part B  models::NliLstm: the LM's embedding + LSTM encode premise and hypothesis; on top an
//           InferSent head ([u; v; |u−v|; u⊙v] over masked max-pooled states → MLP) or an ESIM head
//           (masked cross-attention, enhancement, projection, a composition LSTM, mean+max pooling → MLP).
//           --head auto trains both on the frozen encoder and keeps the better validation one.
//   Part C  Q1's three modes: frozen (the LM frozen, head only); unfrozen (frozen for --frozen-epochs,
//           then the embedding + LSTM train too at --lm-lr in their own AdamW group while the head keeps
//           --lr); scratch (the same network from random init, everything at --scratch-lr).
//   Part D  accuracy on all 9,815 test pairs, per-class accuracy, the confusion matrix, a GRADE line,
//           results JSON, a checkpoint folder per mode (<save>/<mode>: model.safetensors, config.json
//           with the label map and the tokenisation, the LM's vocab.txt).
// Every mode keeps its best validation epoch (apps/common/nli_finetune's fit). The unfrozen mode's
// frozen epochs ARE the frozen run when --frozen-epochs equals --epochs (the same training, so it
// is not repeated): unfreezing then continues from the frozen run's best weights.
//
// Without --lm the app first trains the Q2 quick language model itself (apps/common/q2_train.h, the
// code q2_wikitext runs) and saves it to --lm-out.
//
//   q3_mnli_lstm --preset quick --data ../shared/data                        (2-core CPU, < 10 min)
//   q3_mnli_lstm --preset standard --lm checkpoints/q2_hour --data ../shared/data   (all 47.5k pairs)
//   q3_mnli_lstm --eval-only checkpoints/q3/unfrozen                        (reload, test)
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/common/app_util.h"
#include "apps/common/nli_finetune.h"
#include "apps/common/q2_train.h"
#include "datasets/nli.h"
#include "datasets/wikitext_tokenizer.h"
#include "engine/io/files.h"
#include "engine/io/safetensors.h"
#include "models/nli_lstm.h"

using namespace ember;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Flags {
  std::string data, lm, lm_out = "checkpoints/q3_lm", lm_preset = "quick", preset = "quick", head = "auto";
  std::string modes = "frozen,unfrozen,scratch", save = "checkpoints/q3", json_path = "results/q3_mnli_lstm.json";
  std::string eval_only, features = "embedding+hidden";
  std::vector<std::string> train_files;
  int64_t max_length = 64, epochs = 3, frozen_epochs = 3, unfrozen_epochs = 2, scratch_epochs = 3;
  int64_t batch_size = 32, eval_batch_size = 128, train_pairs = 0, valid_pairs = 0, test_pairs = 0, valid_size = 2000, mnli_repeat = 1;
  int64_t mlp_hidden = 300, projection = 200, composition = 200;
  double lr = 1e-3, lm_lr = 2e-4, unfrozen_lr = 0, scratch_lr = 1e-3, weight_decay = 0.0, clip = 5.0, dropout = 0.3;
  uint64_t seed = 42;
  bool progress = true, case_fallback = true, lm_test = false, resume = false;
  q2::LmTrainConfig lm_cfg;  // used only without --lm
  // The head's learning rate once the LM is unfrozen (--unfrozen-lr 0: the same as --lr).
  double head_unfrozen_lr() const { return unfrozen_lr > 0 ? unfrozen_lr : lr; }
};

void apply_preset(Flags& o, const CLI::App& app) {
  auto set = [&](const char* flag, auto& field, auto value) {
    if (app.count(flag) == 0) field = value;
  };
  if (o.preset == "quick") {
    // 2-core CPU, < 10 minutes with its own quick LM (~4 min). Measured there with the quick LM
    // (README): ESIM beat InferSent on valid (0.479 vs 0.404, frozen, 6,000 pairs, 4 epochs), and
    // a 100-wide projection / composition trains ~1.35x faster than 200 (frozen: 420 vs 310 pairs/s).
    set("--train-pairs", o.train_pairs, int64_t{12000});
    set("--max-length", o.max_length, int64_t{48});
    set("--head", o.head, std::string("esim"));
    set("--projection", o.projection, int64_t{100});
    set("--composition", o.composition, int64_t{100});
    set("--epochs", o.epochs, int64_t{2});
    set("--frozen-epochs", o.frozen_epochs, int64_t{2});
    set("--unfrozen-epochs", o.unfrozen_epochs, int64_t{1});
    set("--scratch-epochs", o.scratch_epochs, int64_t{1});  // a 2nd epoch lowered valid accuracy (overfits)
  } else if (o.preset == "standard") {  // all ≈47.5k train pairs, both heads, the hour-long LM via --lm
    set("--max-length", o.max_length, int64_t{64});
    set("--head", o.head, std::string("auto"));
    set("--epochs", o.epochs, int64_t{4});
    // Unfrozen after 2 frozen epochs, by validation with the 7-epoch hour LM (README): 61.00% against 59.65%
    // when unfreezing after all 4 (the head by then fits train at 78% and the unfrozen epochs only overfit).
    set("--frozen-epochs", o.frozen_epochs, int64_t{2});
    set("--unfrozen-epochs", o.unfrozen_epochs, int64_t{3});
    // The head at 2e-4 once unfrozen, by validation with the 5-epoch hour LM (README): 61.25% against 60.65%
    // for 1e-3 and 60.45% for head and LM both at 1e-4.
    set("--unfrozen-lr", o.unfrozen_lr, 2e-4);
    set("--scratch-epochs", o.scratch_epochs, int64_t{4});
  } else {
    EMBER_FAIL("--preset must be quick or standard, got '", o.preset, "'");
  }
}

std::vector<std::string> parse_modes(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string m; std::getline(ss, m, ',');) {
    if (m.empty()) continue;
    EMBER_CHECK(m == "frozen" || m == "unfrozen" || m == "scratch", "--modes: unknown mode '", m,
                "' (expected frozen, unfrozen, scratch)");
    EMBER_CHECK(std::find(out.begin(), out.end(), m) == out.end(), "--modes: '", m, "' given twice");
    out.push_back(m);
  }
  EMBER_CHECK(!out.empty(), "--modes names no mode");
  // Always in the order frozen, unfrozen, scratch (the unfrozen mode may continue the frozen run).
  std::vector<std::string> ordered;
  for (const char* m : {"frozen", "unfrozen", "scratch"})
    if (std::find(out.begin(), out.end(), m) != out.end()) ordered.push_back(m);
  return ordered;
}

// Every flag is checked before anything slow starts (a typo must not cost a language model).
void validate(const Flags& o) {
  parse_modes(o.modes);
  EMBER_CHECK(o.head == "auto" || o.head == "infersent" || o.head == "esim", "--head must be auto, infersent or esim");
  EMBER_CHECK(o.features == "hidden" || o.features == "embedding+hidden" || o.features == "embedding+layers",
              "--features must be hidden, embedding+hidden or embedding+layers, got '", o.features, "'");
  EMBER_CHECK(o.max_length >= 2, "--max-length must be >= 2 (the leading <eos> and a word), got ", o.max_length);
  EMBER_CHECK(o.epochs > 0 && o.frozen_epochs >= 0 && o.unfrozen_epochs > 0 && o.scratch_epochs > 0,
              "--epochs, --unfrozen-epochs and --scratch-epochs must be positive and --frozen-epochs >= 0");
  EMBER_CHECK(o.batch_size > 0 && o.eval_batch_size > 0, "batch sizes must be positive");
  EMBER_CHECK(o.train_pairs >= 0 && o.valid_pairs >= 0 && o.test_pairs >= 0, "--*-pairs must be >= 0 (0: all)");
  EMBER_CHECK(o.valid_size > 0, "--valid-size must be positive, got ", o.valid_size);
  EMBER_CHECK(o.mlp_hidden > 0 && o.projection > 0 && o.composition > 0, "head sizes must be positive");
  EMBER_CHECK(o.lr > 0 && o.lm_lr > 0 && o.scratch_lr > 0, "learning rates must be positive");
  EMBER_CHECK(o.unfrozen_lr >= 0, "--unfrozen-lr must be positive (or 0: the same as --lr), got ", o.unfrozen_lr);
  EMBER_CHECK(o.weight_decay >= 0 && o.clip >= 0, "--weight-decay and --clip must be >= 0");
  EMBER_CHECK(o.dropout >= 0 && o.dropout < 1, "--dropout must be in [0, 1), got ", o.dropout);
  EMBER_CHECK(o.lm.empty() || fs::exists(o.lm + "/config.json"), "--lm: '", o.lm,
              "' is not a Q2 checkpoint folder (no config.json; q2_wikitext --save writes one)");
  EMBER_CHECK(o.eval_only.empty() || fs::exists(o.eval_only + "/config.json"), "--eval-only: '", o.eval_only,
              "' is not a q3 checkpoint folder (no config.json)");
  if (o.lm.empty() && o.eval_only.empty()) {
    try {
      q2::validate(o.lm_cfg);
    } catch (const Error& e) {
      EMBER_FAIL("the language model to train without --lm (q2_wikitext's option names; here --lm-*): ", e.what());
    }
  }
}

// ---------------- Part A: the splits in the LM's tokens ----------------

using Seq = std::vector<int64_t>;

struct EncodedSplit {
  std::vector<Seq> premise, hypothesis;
  nli::SplitView view;  // labels; lengths = the longer sentence (what a batch's steps cost)
  datasets::OovCount oov;
  int64_t truncated = 0;
  size_t size() const { return premise.size(); }
};

struct Tokenisation {
  int64_t max_length = 64;
  bool case_fallback = true;
  json to_json() const {
    return {{"scheme", "wikitext_tokenize (datasets/wikitext_tokenizer.h), Moses-style as WikiText-2 was made"},
            {"prefix", datasets::Vocab::kEos},
            {"max_length", max_length},
            {"case_fallback", case_fallback},
            {"unknown", datasets::Vocab::kUnk},
            {"vocab_file", "vocab.txt"}};
  }
};

Seq encode_sentence(const std::string& text, const datasets::Vocab& vocab, const Tokenisation& tk,
                    datasets::OovCount& oov, bool& truncated) {
  Seq ids{vocab.id(datasets::Vocab::kEos)};
  Seq words = datasets::encode_wikitext(datasets::wikitext_tokenize(text), vocab, &oov, tk.case_fallback);
  ids.insert(ids.end(), words.begin(), words.end());
  truncated = static_cast<int64_t>(ids.size()) > tk.max_length;
  if (truncated) ids.resize(static_cast<size_t>(tk.max_length));
  return ids;
}

EncodedSplit encode_split(const std::vector<datasets::NliPair>& pairs, const datasets::Vocab& vocab,
                          const Tokenisation& tk) {
  EncodedSplit s;
  for (const auto& p : pairs) {
    bool tp = false, th = false;
    s.premise.push_back(encode_sentence(p.premise, vocab, tk, s.oov, tp));
    s.hypothesis.push_back(encode_sentence(p.hypothesis, vocab, tk, s.oov, th));
    s.truncated += tp || th;
    s.view.labels.push_back(p.label);
    s.view.lengths.push_back(static_cast<int64_t>(std::max(s.premise.back().size(), s.hypothesis.back().size())));
  }
  return s;
}

models::NliBatch batch_of(const EncodedSplit& s, const std::vector<int64_t>& rows, int64_t pad_id) {
  std::vector<const Seq*> p, h;
  for (int64_t r : rows) p.push_back(&s.premise.at(static_cast<size_t>(r))), h.push_back(&s.hypothesis.at(static_cast<size_t>(r)));
  return models::make_nli_batch(p, h, pad_id);
}

template <class T>
std::vector<T> first(const std::vector<T>& v, int64_t n) {
  if (n <= 0 || n >= static_cast<int64_t>(v.size())) return v;
  return std::vector<T>(v.begin(), v.begin() + n);
}

// ---------------- the language model ----------------

struct LanguageModel {
  models::LoadedLstmLM lm;
  std::string dir;
  json trained = nullptr;  // the training run's figures when this app trained it
  double seconds = 0;
};

LanguageModel get_language_model(const Flags& o, const std::string& data_dir) {
  LanguageModel out;
  app::Stopwatch sw;
  if (o.lm.empty()) {
    std::printf("no --lm: training the Q2 %s language model first (q2_wikitext's code; saved to %s)\n",
                o.lm_preset.c_str(), o.lm_out.c_str());
    std::fflush(stdout);
    q2::LmTrainConfig cfg = o.lm_cfg;  // --continue: the LM's own interrupted run too, when it left a state
    cfg.continue_run = o.resume && fs::exists(o.lm_out + "-resume/train_state.json");
    q2::LmTrainResult r = q2::train_wikitext_lm(q2::find_wikitext_dir(data_dir), cfg);
    out.trained = {{"preset", o.lm_preset},        {"valid_perplexity", r.valid_perplexity},
                   {"test_perplexity", o.lm_test ? json(r.test_perplexity) : json(nullptr)}, {"tokens_per_second", r.tokens_per_second},
                   {"train_tokens", r.train_tokens}, {"epochs", o.lm_cfg.epochs},
                   {"seconds", r.seconds},          {"model", r.model}};
    if (o.lm_test)
      std::printf("language model: valid perplexity %.2f, test perplexity %.2f (%.0f s)\n", r.valid_perplexity,
                  r.test_perplexity, r.seconds);
    else
      std::printf("language model: valid perplexity %.2f (test pass skipped: --lm-test-perplexity) (%.0f s)\n",
                  r.valid_perplexity, r.seconds);
    out.dir = o.lm_out;
  } else {
    out.dir = o.lm;
  }
  out.lm = models::load_lstm_lm(out.dir);  // the file round trip, as a user's run
  for (const char* w : {datasets::Vocab::kEos, datasets::Vocab::kUnk})
    EMBER_CHECK(out.lm.vocab.contains(w), "language model ", out.dir, ": its vocab.txt has no '", w,
                "' (a WikiText-2 vocabulary has both; NLI sentences start with <eos> and unknown words become <unk>)");
  out.seconds = sw.seconds();
  const json& c = out.lm.config;
  std::printf("language model %s: %s, %lld parameters%s\n", out.dir.c_str(), out.lm.model->config().to_json().dump().c_str(),
              static_cast<long long>(out.lm.model->num_parameters()),
              c.contains("valid_perplexity") ? (", valid perplexity " + std::to_string(c["valid_perplexity"].get<double>())).c_str()
                                             : "");
  return out;
}

// ---------------- Parts B–D: one mode ----------------

struct ModeResult {
  std::string mode, head;
  nli::EvalResult test;
  nli::FitResult fit;       // the mode's last phase (unfrozen: after unfreezing)
  nli::FitResult frozen;    // unfrozen mode: its frozen phase (empty when it continued the frozen run)
  std::string note;
  double seconds = 0;
  json to_json() const {
    json j = {{"mode", mode},          {"head", head},     {"test", test.to_json()},
              {"valid_accuracy", fit.best_valid_accuracy}, {"best_epoch", fit.best_epoch},
              {"history", fit.history}, {"seconds", seconds}};
    if (!frozen.history.empty()) j["frozen_phase"] = {{"valid_accuracy", frozen.best_valid_accuracy},
                                                      {"best_epoch", frozen.best_epoch}, {"history", frozen.history}};
    if (!note.empty()) j["note"] = note;
    return j;
  }
};

struct Study {
  const Flags& o;
  const LanguageModel& lm;
  const EncodedSplit &train, &valid, &test;
  Tokenisation tk;
  int64_t pad_id;

  models::NliLstmConfig model_config(const std::string& head) const {
    models::NliLstmConfig c;
    c.encoder_like(lm.lm.model->config());
    c.head = head, c.mlp_hidden = o.mlp_hidden, c.projection = o.projection, c.composition = o.composition;
    c.dropout = o.dropout;
    c.with_embeddings = o.features != "hidden";
    c.all_layers = o.features == "embedding+layers";
    return c;
  }

  // Initialisation and dropout draw from the default generator (modules keep a pointer to theirs).
  std::shared_ptr<models::NliLstm> make_model(const std::string& head, bool pretrained, uint64_t seed) const {
    manual_seed(seed);
    auto m = std::make_shared<models::NliLstm>(model_config(head), nullptr);
    if (pretrained) m->load_encoder(*lm.lm.model);
    return m;
  }

  nli::LogitsFn logits_on(const std::shared_ptr<models::NliLstm>& model, const EncodedSplit& s) const {
    int64_t pad = pad_id;
    return [model, &s, pad](const std::vector<int64_t>& rows, bool train_mode) {
      model->train(train_mode);
      return model->forward(batch_of(s, rows, pad));
    };
  }

  nli::TrainConfig train_config(int64_t epochs) const {
    nli::TrainConfig c;
    c.epochs = epochs, c.batch_size = o.batch_size, c.eval_batch_size = o.eval_batch_size, c.clip = o.clip;
    c.progress = o.progress;
    return c;
  }

  // Every setting the numbers of a fit depend on, for --continue (nli::fit adds its own).
  json run_settings() const {
    return {{"language_model", {{"dir", lm.dir}, {"config", lm.lm.config}}},
            {"features", o.features},         {"max_length", o.max_length},     {"case_fallback", o.case_fallback},
            {"mlp_hidden", o.mlp_hidden},     {"projection", o.projection},     {"composition", o.composition},
            {"dropout", o.dropout},           {"lr", o.lr},                     {"lm_lr", o.lm_lr},
            {"unfrozen_lr", o.head_unfrozen_lr()},
            {"scratch_lr", o.scratch_lr},     {"weight_decay", o.weight_decay}, {"seed", o.seed},
            {"epochs", o.epochs},             {"frozen_epochs", o.frozen_epochs}, {"mnli_repeat", o.mnli_repeat}};
  }

  // One phase of training. Its state goes to <save>-resume/<label>/ after every epoch; --continue
  // picks a stopped run up there (finished phases return at once, with their best weights).
  nli::FitResult fit(const std::shared_ptr<models::NliLstm>& model, optim::Optimizer& opt, int64_t epochs,
                     const std::string& label, uint64_t seed) const {
    Generator gen(seed);
    nli::TrainConfig c = train_config(epochs);
    c.state_dir = nli::state_dir_for(o.save + "-resume", label);
    c.run = run_settings();
    c.resume = o.resume;
    return nli::fit(*model, logits_on(model, train), logits_on(model, valid), train.view, valid.view, opt, nullptr, c,
                    label, gen);
  }

  optim::ParamGroup group(const TensorList& params, double lr) const {
    optim::ParamGroup g;
    g.params = params, g.lr = lr, g.weight_decay = o.weight_decay;
    return g;
  }

  void finish(ModeResult& r, const std::shared_ptr<models::NliLstm>& model, const app::Stopwatch& sw) const {
    r.test = nli::evaluate(logits_on(model, test), test.view.labels, test.view.lengths, o.eval_batch_size,
                           r.mode + " test", o.progress);
    r.seconds = sw.seconds();
    save_checkpoint(o.save + "/" + r.mode, *model,
                    {{"mode", r.mode}, {"valid_accuracy", r.fit.best_valid_accuracy}, {"test_accuracy", r.test.accuracy()}});
  }

  // The encoder frozen, the head alone at --lr. Returns the trained model too (unfrozen may continue it).
  ModeResult frozen(const std::string& head, std::shared_ptr<models::NliLstm>& model_out, bool test_it = true) const {
    app::Stopwatch sw;
    ModeResult r;
    r.mode = "frozen", r.head = head;
    auto model = make_model(head, true, o.seed);
    model->freeze_encoder(true);
    optim::AdamW opt({group(model->head_parameters(), o.lr)});
    r.fit = fit(model, opt, o.epochs, "frozen " + head, o.seed);
    model_out = model;
    if (test_it) finish(r, model, sw);
    r.seconds = sw.seconds();
    return r;
  }

  // Frozen for --frozen-epochs (or the frozen run itself), then everything trains: the head at
  // --unfrozen-lr (default --lr), the embedding + LSTM at --lm-lr (their own ParamGroup).
  ModeResult unfrozen(const std::string& head, const std::shared_ptr<models::NliLstm>& frozen_run) const {
    app::Stopwatch sw;
    ModeResult r;
    r.mode = "unfrozen", r.head = head;
    auto model = make_model(head, true, o.seed);
    if (frozen_run && o.frozen_epochs == o.epochs) {
      model->load_state_dict(frozen_run->state_dict());
      r.note = "its " + std::to_string(o.frozen_epochs) + " frozen epochs are the frozen run's (the same training)";
      std::printf("unfrozen: %s\n", r.note.c_str());
    } else if (o.frozen_epochs > 0) {
      model->freeze_encoder(true);
      optim::AdamW opt({group(model->head_parameters(), o.lr)});
      r.frozen = fit(model, opt, o.frozen_epochs, "unfrozen (frozen phase) " + head, o.seed);
    }
    model->freeze_encoder(false);
    optim::AdamW opt(
        {group(model->head_parameters(), o.head_unfrozen_lr()), group(model->encoder_parameters(), o.lm_lr)});
    r.fit = fit(model, opt, o.unfrozen_epochs, "unfrozen " + head, o.seed + 1);
    finish(r, model, sw);
    return r;
  }

  ModeResult scratch(const std::string& head) const {
    app::Stopwatch sw;
    ModeResult r;
    r.mode = "scratch", r.head = head;
    auto model = make_model(head, false, o.seed + 2);
    optim::AdamW opt({group(model->parameters(), o.scratch_lr)});
    r.fit = fit(model, opt, o.scratch_epochs, "scratch " + head, o.seed);
    finish(r, model, sw);
    return r;
  }

  // One folder, replaced as a whole (io::write_dir_atomic): a crash mid-save leaves the previous one.
  void save_checkpoint(const std::string& dir, const models::NliLstm& model, const json& extra) const {
    json cfg = {{"model", model.config().to_json()},
                {"label2id", datasets::nli_label_map()},
                {"id2label", {{"0", "entailment"}, {"1", "neutral"}, {"2", "contradiction"}}},
                {"tokenisation", tk.to_json()},
                {"language_model", lm.dir},
                {"extra", extra}};
    io::write_dir_atomic(dir, {{"model.safetensors", safetensors::save_to_memory(
                                                         model.state_dict(), {{"config", model.config().to_json().dump()}})},
                               {"config.json", cfg.dump(2) + "\n"},
                               {"vocab.txt", lm.lm.vocab.text()}});
  }};

int eval_only(const Flags& o, const datasets::NliSplits& splits) {
  std::ifstream f(o.eval_only + "/config.json");
  json cfg = json::parse(f);
  EMBER_CHECK(cfg.contains("model") && cfg.contains("tokenisation"), "--eval-only: ", o.eval_only,
              "/config.json has no \"model\" or \"tokenisation\" entry (not written by q3_mnli_lstm)");
  datasets::Vocab vocab = datasets::Vocab::load(o.eval_only + "/vocab.txt");
  models::NliLstm model(models::NliLstmConfig::from_json(cfg["model"]));
  model.load_state_dict(safetensors::load(o.eval_only + "/model.safetensors").tensors, /*strict=*/true);
  Tokenisation tk;
  tk.max_length = cfg["tokenisation"].value("max_length", int64_t{64});
  tk.case_fallback = cfg["tokenisation"].value("case_fallback", true);
  EncodedSplit test = encode_split(first(splits.test, o.test_pairs), vocab, tk);
  const int64_t pad = vocab.id(datasets::Vocab::kEos);
  auto logits = [&](const std::vector<int64_t>& rows, bool train) {
    model.train(train);
    return model.forward(batch_of(test, rows, pad));
  };
  nli::EvalResult r = nli::evaluate(logits, test.view.labels, test.view.lengths, o.eval_batch_size, "test", o.progress);
  std::printf("%s: test accuracy %.4f on %lld pairs (MNLI dev_matched)\n%s", o.eval_only.c_str(), r.accuracy(),
              static_cast<long long>(r.confusion.total()), r.confusion.table().c_str());
  app::write_json_atomic(o.json_path, {{"study", "Q3 eval-only"}, {"checkpoint", o.eval_only}, {"test", r.to_json()}});
  return 0;
}

// "12,000 pairs (7,832 MNLI, 4,168 SNLI)": where the first n train pairs came from (the train split
// concatenates its sources in order).
std::string train_sources(const datasets::NliSplits& splits, int64_t n) {
  int64_t left = n, mnli = 0, other = 0;
  for (const json& src : splits.sources) {
    const int64_t take = std::min(left, src.value("train", int64_t{0}));
    (src.value("path", std::string()).find("mnli") != std::string::npos ? mnli : other) += take;
    left -= take;
  }
  return std::to_string(n) + " pairs (" + std::to_string(mnli) + " MNLI, " + std::to_string(other) + " other: SNLI)";
}

void print_oov(const char* name, const EncodedSplit& s) {
  std::printf("  %-6s %6zu pairs  %8lld tokens  OOV %.2f%%  truncated pairs %lld\n", name, s.size(),
              static_cast<long long>(s.oov.tokens), 100.0 * s.oov.rate(), static_cast<long long>(s.truncated));
}

int run(Flags& o, const CLI::App& app) {
  apply_preset(o, app);
  q2::apply_lm_preset(o.lm_preset, o.lm_cfg, [&](const char* flag) {
    const CLI::Option* opt = app.get_option_no_throw(std::string("--lm-") + (flag + 2));  // --epochs → --lm-epochs
    return opt != nullptr && opt->count() > 0;
  });
  o.lm_cfg.save = o.lm_out;
  o.lm_cfg.test_perplexity = o.lm_test;
  o.lm_cfg.progress = o.progress;
  validate(o);
  const std::vector<std::string> modes = parse_modes(o.modes);
  app::Stopwatch clock;
  manual_seed(o.seed);
  std::string data_dir = app::resolve_data_dir(o.data);

  // Part A: the splits (fast, and it checks every data file before the LM trains).
  datasets::NliSplitOptions sopt;
  sopt.train_files = o.train_files;
  sopt.valid_size = o.valid_size;
  sopt.mnli_repeat = o.mnli_repeat;
  datasets::NliSplits splits = datasets::make_nli_splits(data_dir, sopt);
  std::printf("%s", splits.summary().c_str());
  if (!o.eval_only.empty()) return eval_only(o, splits);
  if (o.lm.empty()) datasets::load_wikitext(q2::find_wikitext_dir(data_dir));  // fails now, not after a model trains

  LanguageModel lm = get_language_model(o, data_dir);
  Tokenisation tk{o.max_length, o.case_fallback};
  app::Stopwatch tsw;
  const datasets::Vocab& vocab = lm.lm.vocab;
  EncodedSplit train = encode_split(first(splits.train, o.train_pairs), vocab, tk);
  EncodedSplit valid = encode_split(first(splits.valid, o.valid_pairs), vocab, tk);
  EncodedSplit test = encode_split(first(splits.test, o.test_pairs), vocab, tk);
  std::printf("tokenised into the LM's vocabulary (%lld words; <eos> first; case fallback %s; at most %lld tokens) "
              "in %.1f s:\n",
              static_cast<long long>(vocab.size()), o.case_fallback ? "on" : "off", static_cast<long long>(o.max_length),
              tsw.seconds());
  print_oov("train", train);
  print_oov("valid", valid);
  print_oov("test", test);
  if (o.test_pairs > 0)
    std::printf("NOTE: --test-pairs %lld: not the whole test split, not a graded figure\n",
                static_cast<long long>(o.test_pairs));
  std::fflush(stdout);

  Study study{o, lm, train, valid, test, tk, vocab.id(datasets::Vocab::kEos)};
  std::vector<ModeResult> results;
  json head_choice = nullptr;
  std::string head = o.head;
  std::shared_ptr<models::NliLstm> frozen_model;
  auto report = [&](const ModeResult& r) {
    std::printf("%s (%s head): test accuracy %.4f on %lld pairs (valid %.4f at epoch %lld, %.0f s)\n%s", r.mode.c_str(),
                r.head.c_str(), r.test.accuracy(), static_cast<long long>(r.test.confusion.total()),
                r.fit.best_valid_accuracy, static_cast<long long>(r.fit.best_epoch), r.seconds,
                r.test.confusion.table().c_str());
    std::fflush(stdout);
  };
  // --head auto: both heads on the frozen encoder; the better validation accuracy wins.
  if (head == "auto") {
    std::printf("\n== head selection: both heads on the frozen LM, %lld epochs ==\n", static_cast<long long>(o.epochs));
    std::shared_ptr<models::NliLstm> mi, me;
    ModeResult ri = study.frozen("infersent", mi, false), re = study.frozen("esim", me, false);
    head = re.fit.best_valid_accuracy > ri.fit.best_valid_accuracy ? "esim" : "infersent";
    head_choice = {{"infersent_valid_accuracy", ri.fit.best_valid_accuracy},
                   {"esim_valid_accuracy", re.fit.best_valid_accuracy},
                   {"infersent_seconds", ri.seconds}, {"esim_seconds", re.seconds}, {"chosen", head}};
    std::printf("head: valid accuracy infersent %.4f, esim %.4f -> %s\n", ri.fit.best_valid_accuracy,
                re.fit.best_valid_accuracy, head.c_str());
    frozen_model = head == "esim" ? me : mi;
    if (std::find(modes.begin(), modes.end(), "frozen") != modes.end()) {
      ModeResult& r = head == "esim" ? re : ri;
      const double train_seconds = r.seconds;
      app::Stopwatch sw;
      study.finish(r, frozen_model, sw);
      r.seconds += train_seconds;
      results.push_back(r);
      report(r);
    }
  }
  for (const std::string& m : modes) {
    if (m == "frozen" && !results.empty()) continue;  // done during head selection
    std::printf("\n== mode %s (%s head) ==\n", m.c_str(), head.c_str());
    std::fflush(stdout);
    if (m == "frozen") results.push_back(study.frozen(head, frozen_model));
    else if (m == "unfrozen") results.push_back(study.unfrozen(head, frozen_model));
    else results.push_back(study.scratch(head));
    report(results.back());
  }

  // Part D: the summary and the grade.
  auto acc_of = [&](const std::string& n) {
    for (auto& r : results)
      if (r.mode == n) return r.test.accuracy();
    return -1.0;
  };
  std::printf("\n%-10s %-10s %10s %10s %8s\n", "mode", "head", "valid acc", "test acc", "seconds");
  for (auto& r : results)
    std::printf("%-10s %-10s %10.4f %10.4f %8.0f\n", r.mode.c_str(), r.head.c_str(), r.fit.best_valid_accuracy,
                r.test.accuracy(), r.seconds);
  std::printf("anchors (MNLI-m, all 393k MNLI train pairs): GLUE BiLSTM 70.3%%, BiLSTM+Attn 74.2%%, multi-task "
              "BiLSTM+Attn 72.2%%, GPT-1's LSTM with auxiliary LM 73.7%%; ours trains on %s: goal 60%%, moonshot 65%%\n",
              train_sources(splits, static_cast<int64_t>(train.size())).c_str());
  const double fz = acc_of("frozen"), uf = acc_of("unfrozen"), sc = acc_of("scratch");
  const double best_pre = std::max(fz, uf), best = std::max(best_pre, sc);
  std::string checks;
  auto add_check = [&](bool ran, bool ok, const std::string& what) {
    if (!ran) return;
    checks += (checks.empty() ? "" : "; ") + std::string(ok ? "PASS " : "FAIL ") + what;
  };
  char buf[200];
  std::snprintf(buf, sizeof buf, "unfrozen %.4f %s frozen %.4f", uf, uf >= fz ? ">=" : "<", fz);
  add_check(fz >= 0 && uf >= 0, uf >= fz, buf);
  std::snprintf(buf, sizeof buf, "pretrained %.4f %s scratch %.4f", best_pre, best_pre >= sc ? ">=" : "<", sc);
  add_check(best_pre >= 0 && sc >= 0, best_pre >= sc, buf);
  const bool full_test = o.test_pairs <= 0;
  std::snprintf(buf, sizeof buf, "best test accuracy %.4f: %s", best,
                best >= 0.65 ? "meets the 65% moonshot" : best >= 0.60 ? "meets the 60% goal" : "below the 60% goal");
  std::string grade = std::string(buf) + (checks.empty() ? "" : " (" + checks + ")");
  std::printf("GRADE: %s%s\n", grade.c_str(), full_test ? "" : " [partial test set: not a graded figure]");

  json jr = json::array();
  for (auto& r : results) jr.push_back(r.to_json());
  json result = {{"study", "Q3 LSTM language model on MultiNLI"},
                 {"preset", o.preset},
                 {"language_model", {{"dir", lm.dir}, {"config", lm.lm.config}, {"trained_here", lm.trained},
                                     {"seconds", lm.seconds}}},
                 {"head", head},
                 {"features", o.features},
                 {"head_selection", head_choice},
                 {"tokenisation", tk.to_json()},
                 {"oov_rate", {{"train", train.oov.rate()}, {"valid", valid.oov.rate()}, {"test", test.oov.rate()}}},
                 {"truncated_pairs", {{"train", train.truncated}, {"valid", valid.truncated}, {"test", test.truncated}}},
                 {"epochs", {{"frozen", o.epochs}, {"frozen_then", o.frozen_epochs}, {"unfrozen", o.unfrozen_epochs},
                             {"scratch", o.scratch_epochs}}},
                 {"batch_size", o.batch_size},
                 {"lr", {{"head", o.lr}, {"lm", o.lm_lr},
                         {"head_unfrozen", o.head_unfrozen_lr()}, {"scratch", o.scratch_lr}}},
                 {"weight_decay", o.weight_decay},
                 {"clip", o.clip},
                 {"dropout", o.dropout},
                 {"seed", o.seed},
                 {"splits", splits.describe()},
                 {"train_pairs_used", train.size()},
                 {"valid_pairs_used", valid.size()},
                 {"test_pairs_used", test.size()},
                 {"full_test_set", full_test},
                 {"modes", jr},
                 {"grade", grade},
                 {"device", "cpu"},
                 {"seconds", clock.seconds()},
                 {"date", app::utc_timestamp()}};
  app::write_json_atomic(o.json_path, result);
  std::printf("results written to %s; checkpoints in %s/<mode> (%.0f s in all)\n", o.json_path.c_str(),
              o.save.c_str(), clock.seconds());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember Q3: the Q2 LSTM language model as feature extractor, fine-tuned on MultiNLI (frozen, "
               "unfrozen, from scratch); reports test accuracy on MNLI dev_matched"};
  Flags o;
  app.add_option("--data", o.data, "data folder holding mnli/, snli/ and wikitext-2/ (default: $EMBER_DATA)");
  app.add_option("--lm", o.lm, "a Q2 checkpoint folder (q2_wikitext --save); without it the Q2 quick LM is "
                               "trained first and saved to --lm-out");
  app.add_option("--preset", o.preset, "quick (2-core CPU, < 10 min with its own LM) | standard (all train pairs, "
                                       "both heads; use with --lm of the hour preset)")
      ->check(CLI::IsMember({"quick", "standard"}));
  app.add_option("--modes", o.modes, "comma-separated: frozen, unfrozen, scratch");
  app.add_option("--head", o.head, "infersent | esim | auto (both on the frozen LM, the better validation one)")
      ->check(CLI::IsMember({"auto", "infersent", "esim"}));
  app.add_option("--features", o.features, "what the head reads at each position: hidden (the LSTM's last layer) | "
                                           "embedding+hidden ([word embedding; hidden]) | embedding+layers "
                                           "([word embedding; every LSTM layer's hidden state], as ELMo)")
      ->check(CLI::IsMember({"hidden", "embedding+hidden", "embedding+layers"}));
  app.add_option("--train", o.train_files, "a training file (repeatable; jsonl or GLUE tsv) that replaces the "
                                           "default train set, e.g. the real MNLI train");
  app.add_option("--max-length", o.max_length, "tokens per sentence, the leading <eos> included (longer: cut)");
  app.add_option("--epochs", o.epochs, "epochs of the frozen mode (and of each head under --head auto)");
  app.add_option("--frozen-epochs", o.frozen_epochs, "unfrozen mode: epochs with the LM frozen before unfreezing "
                                                     "(equal to --epochs: continue the frozen run)");
  app.add_option("--unfrozen-epochs", o.unfrozen_epochs, "unfrozen mode: epochs after unfreezing");
  app.add_option("--scratch-epochs", o.scratch_epochs, "epochs of the from-scratch baseline");
  app.add_option("--batch-size", o.batch_size, "training batch size (pairs)");
  app.add_option("--eval-batch-size", o.eval_batch_size, "evaluation batch size");
  app.add_option("--train-pairs", o.train_pairs, "use the first N training pairs (0: all)");
  app.add_option("--valid-size", o.valid_size, "pairs of MNLI dev_mismatched drawn for the valid split (2,000: "
                                               "the shared Q3/Q4 split; change only for tiny test data)");
  app.add_option("--mnli-repeat", o.mnli_repeat, "put the 7,832 dev_mismatched train pairs (the only MultiNLI-style "
                                                 "ones) into train this many times (1: once)");
  app.add_option("--valid-pairs", o.valid_pairs, "use the first N validation pairs (0: all 2,000)");
  app.add_option("--test-pairs", o.test_pairs, "use the first N test pairs (0: all 9,815; anything else is not "
                                               "the graded figure)");
  app.add_option("--lr", o.lr, "AdamW learning rate of the head (every mode but scratch)");
  app.add_option("--lm-lr", o.lm_lr, "AdamW learning rate of the embedding + LSTM once unfrozen");
  app.add_option("--unfrozen-lr", o.unfrozen_lr, "AdamW learning rate of the head once unfrozen (0: --lr)");
  app.add_option("--scratch-lr", o.scratch_lr, "AdamW learning rate of every parameter of the scratch network");
  app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay");
  app.add_option("--clip", o.clip, "clip the gradient L2 norm to this (0: off)");
  app.add_option("--dropout", o.dropout, "dropout before each classifier layer");
  app.add_option("--mlp-hidden", o.mlp_hidden, "hidden size of the classifier MLP");
  app.add_option("--projection", o.projection, "ESIM: projection size after the enhancement");
  app.add_option("--composition", o.composition, "ESIM: hidden size of the composition LSTM");
  app.add_flag("!--no-case-fallback", o.case_fallback,
               "look words up exactly as written only (default: try lower / capitalised / upper case before <unk>)");
  app.add_option("--seed", o.seed, "random seed (head init, dropout, batch order)");
  app.add_option("--save", o.save, "checkpoint root; each mode writes <save>/<mode>/");
  app.add_option("--json", o.json_path, "where to write the results JSON");
  app.add_option("--eval-only", o.eval_only, "evaluate this checkpoint folder (written by --save) on the test split");
  app.add_flag("--continue", o.resume, "continue the stopped run of --save from <save>-resume/ (each phase's last "
                                       "finished epoch: weights, optimizer, RNG positions); the same results as a "
                                       "run never stopped, and an error if the settings differ");
  app.add_flag("!--no-progress", o.progress, "no progress bars");
  // The LM trained without --lm: q2_wikitext's options, prefixed.
  app.add_option("--lm-preset", o.lm_preset, "Q2 preset of the LM trained without --lm")
      ->check(CLI::IsMember({"quick", "hour", "medium", "large"}));
  app.add_option("--lm-out", o.lm_out, "where the LM trained without --lm is saved");
  app.add_option("--lm-epochs", o.lm_cfg.epochs, "epochs of the LM trained without --lm");
  app.add_option("--lm-train-tokens", o.lm_cfg.train_tokens, "training tokens of the LM trained without --lm (0: all)");
  app.add_option("--lm-emsize", o.lm_cfg.emsize, "embedding size of the LM trained without --lm");
  app.add_option("--lm-nhid", o.lm_cfg.nhid, "LSTM size of the LM trained without --lm");
  app.add_option("--lm-layers", o.lm_cfg.layers, "LSTM layers of the LM trained without --lm");
  app.add_flag("--lm-test-perplexity", o.lm_test, "also measure the test perplexity of the LM trained here (~1 min)");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return run(o, app);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "q3_mnli_lstm: error: %s\n", e.what());
    return 1;
  }
}
