// apps/common/nli_finetune.cpp — see nli_finetune.h.
#include "apps/common/nli_finetune.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <numeric>

#include "apps/common/app_util.h"
#include "engine/io/files.h"
#include "engine/io/safetensors.h"
#include "engine/ops.h"

namespace ember::nli {

using nlohmann::json;

namespace {

// Fisher–Yates with the generator's 64-bit draws: the same order on every platform.
void shuffle(std::vector<int64_t>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.next_u64() % i]);
}
template <class T>
void shuffle_any(std::vector<T>& v, Generator& gen) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.next_u64() % i]);
}

// Predicted class of each row of logits (B, 3), and the mean cross-entropy's sum over the rows.
std::vector<int> predictions(const Tensor& logits) {
  Tensor l = logits.detach().to(Device::cpu()).to(DType::F64).contiguous();
  std::vector<double> v = l.to_vector<double>();
  const int64_t B = l.size(0), C = l.size(1);
  std::vector<int> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    int best = 0;
    for (int64_t c = 1; c < C; ++c)
      if (v[b * C + c] > v[b * C + best]) best = static_cast<int>(c);
    out[b] = best;
  }
  return out;
}

Tensor targets_of(const std::vector<int>& labels, const std::vector<int64_t>& rows, Device dev) {
  std::vector<int64_t> t(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) t[i] = labels.at(static_cast<size_t>(rows[i]));
  return from_vector(t, {static_cast<int64_t>(t.size())}).to(dev);
}

}  // namespace

std::vector<std::vector<int64_t>> length_bucketed_batches(const std::vector<int64_t>& lengths, int64_t batch_size,
                                                          Generator* gen) {
  EMBER_CHECK(batch_size > 0, "length_bucketed_batches: batch_size must be positive, got ", batch_size);
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  auto by_length = [&](int64_t a, int64_t b) {
    return lengths[a] != lengths[b] ? lengths[a] < lengths[b] : a < b;
  };
  if (gen) {
    shuffle(order, *gen);
    const size_t pool = static_cast<size_t>(batch_size) * 50;
    for (size_t s = 0; s < order.size(); s += pool)
      std::sort(order.begin() + s, order.begin() + std::min(order.size(), s + pool), by_length);
  } else {
    std::sort(order.begin(), order.end(), by_length);
  }
  std::vector<std::vector<int64_t>> batches;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size))
    batches.emplace_back(order.begin() + s, order.begin() + std::min(order.size(), s + batch_size));
  if (gen) shuffle_any(batches, *gen);
  return batches;
}

// ---------------- Confusion ----------------

int64_t Confusion::total() const {
  int64_t n = 0;
  for (auto& row : m)
    for (int64_t x : row) n += x;
  return n;
}

double Confusion::accuracy() const {
  int64_t n = total();
  return n ? static_cast<double>(m[0][0] + m[1][1] + m[2][2]) / static_cast<double>(n) : 0.0;
}

std::array<double, 3> Confusion::per_class_accuracy() const {
  std::array<double, 3> out{};
  for (int g = 0; g < 3; ++g) {
    int64_t n = m[g][0] + m[g][1] + m[g][2];
    out[g] = n ? static_cast<double>(m[g][g]) / static_cast<double>(n) : 0.0;
  }
  return out;
}

json Confusion::to_json() const {
  static const char* names[3] = {"entailment", "neutral", "contradiction"};
  json per = json::object();
  auto pc = per_class_accuracy();
  for (int g = 0; g < 3; ++g) per[names[g]] = pc[g];
  return json{{"accuracy", accuracy()},
              {"n", total()},
              {"per_class_accuracy", per},
              {"confusion_rows_gold_cols_pred", m},
              {"classes", {"entailment", "neutral", "contradiction"}}};
}

std::string Confusion::table() const {
  static const char* names[3] = {"entailment", "neutral", "contradiction"};
  auto pc = per_class_accuracy();
  std::string s = "  gold \\ pred        entail  neutral  contra   class acc\n";
  char line[160];
  for (int g = 0; g < 3; ++g) {
    std::snprintf(line, sizeof line, "  %-17s %7lld  %7lld  %6lld   %.4f\n", names[g], static_cast<long long>(m[g][0]),
                  static_cast<long long>(m[g][1]), static_cast<long long>(m[g][2]), pc[g]);
    s += line;
  }
  return s;
}

json EvalResult::to_json() const {
  json j = confusion.to_json();
  j["loss"] = loss;
  j["seconds"] = seconds;
  j["pairs_per_second"] = pairs_per_second;
  return j;
}

// ---------------- evaluate / train ----------------

EvalResult evaluate(const LogitsFn& logits, const std::vector<int>& labels, const std::vector<int64_t>& lengths,
                    int64_t batch_size, const std::string& label, bool progress) {
  EMBER_CHECK(labels.size() == lengths.size(), "nli::evaluate: ", labels.size(), " labels but ", lengths.size(),
              " lengths");
  EvalResult r;
  app::Stopwatch sw;
  auto batches = length_bucketed_batches(lengths, batch_size, nullptr);
  app::ProgressBar bar(label, static_cast<int64_t>(batches.size()), "pairs", progress);
  NoGradGuard ng;
  double loss_sum = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    const auto& rows = batches[i];
    Tensor out = logits(rows, /*train=*/false);
    Tensor t = targets_of(labels, rows, out.device());
    loss_sum += cross_entropy(out, t).item() * static_cast<double>(rows.size());
    std::vector<int> pred = predictions(out);
    for (size_t k = 0; k < rows.size(); ++k) r.confusion.add(labels[rows[k]], pred[k]);
    bar.update(static_cast<int64_t>(i + 1), static_cast<int64_t>(rows.size()), {{"acc", r.accuracy()}});
  }
  bar.finish();
  r.loss = labels.empty() ? 0.0 : loss_sum / static_cast<double>(labels.size());
  r.seconds = sw.seconds();
  r.pairs_per_second = r.seconds > 0 ? static_cast<double>(labels.size()) / r.seconds : 0.0;
  return r;
}

EpochResult train_epoch(const LogitsFn& logits, const std::vector<int>& labels, const std::vector<int64_t>& lengths,
                        optim::Optimizer& opt, optim::LrScheduler* sched, const TensorList& params,
                        const TrainConfig& cfg, const std::string& label, Generator& gen) {
  EMBER_CHECK(labels.size() == lengths.size(), "nli::train_epoch: ", labels.size(), " labels but ", lengths.size(),
              " lengths");
  EMBER_CHECK(!labels.empty(), "nli::train_epoch: no training pairs");
  app::Stopwatch sw;
  auto batches = length_bucketed_batches(lengths, cfg.batch_size, &gen);
  app::ProgressBar bar(label, static_cast<int64_t>(batches.size()), "pairs", cfg.progress);
  EpochResult r;
  double loss_sum = 0, recent_loss = 0;
  int64_t seen = 0, correct = 0, recent_n = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    const auto& rows = batches[i];
    opt.zero_grad();
    Tensor out = logits(rows, /*train=*/true);
    Tensor loss = cross_entropy(out, targets_of(labels, rows, out.device()));
    loss.backward();
    if (cfg.clip > 0) optim::clip_grad_norm_(params, cfg.clip);
    opt.step();
    if (sched) sched->step();
    const double l = loss.item();
    std::vector<int> pred = predictions(out);
    for (size_t k = 0; k < rows.size(); ++k) correct += pred[k] == labels[rows[k]];
    seen += static_cast<int64_t>(rows.size());
    loss_sum += l * static_cast<double>(rows.size());
    recent_loss += l, ++recent_n;
    bar.update(static_cast<int64_t>(i + 1), static_cast<int64_t>(rows.size()),
               {{"loss", recent_loss / recent_n}, {"acc", static_cast<double>(correct) / seen}});
    if (recent_n == 50) recent_loss = 0, recent_n = 0;
    ++r.steps;
  }
  bar.finish();
  r.loss = loss_sum / static_cast<double>(seen);
  r.accuracy = static_cast<double>(correct) / static_cast<double>(seen);
  r.seconds = sw.seconds();
  r.pairs_per_second = r.seconds > 0 ? static_cast<double>(seen) / r.seconds : 0.0;
  return r;
}

// ---------------- fit ----------------

nn::NamedTensors snapshot(const nn::Module& model) {
  nn::NamedTensors out;
  for (const auto& [name, t] : model.state_dict()) out.emplace_back(name, t.detach().clone());
  return out;
}

void restore(nn::Module& model, const nn::NamedTensors& snap) { model.load_state_dict(snap, /*strict=*/true); }

namespace {

// FNV-1a over the labels and lengths: a resumed fit must see the same data.
std::string digest(const SplitView& v) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](int64_t x) {
    for (int i = 0; i < 8; ++i) h = (h ^ static_cast<uint64_t>((x >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  for (int l : v.labels) mix(l);
  for (int64_t l : v.lengths) mix(l);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

json fit_run(const TrainConfig& cfg, const std::string& label, const SplitView& train, const SplitView& valid) {
  return {{"caller", cfg.run},
          {"fit", {{"label", label}, {"epochs", cfg.epochs}, {"batch_size", cfg.batch_size},
                   {"eval_batch_size", cfg.eval_batch_size}, {"clip", cfg.clip},
                   {"train_pairs", train.labels.size()}, {"valid_pairs", valid.labels.size()},
                   {"train_digest", digest(train)}, {"valid_digest", digest(valid)}}}};
}

}  // namespace

std::string state_dir_for(const std::string& root, const std::string& label) {
  std::string slug;
  for (char ch : label) slug += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return root + "/" + slug;
}

FitResult fit(nn::Module& model, const LogitsFn& train_logits, const LogitsFn& valid_logits, const SplitView& train,
              const SplitView& valid, optim::Optimizer& opt, optim::LrScheduler* sched, const TrainConfig& cfg,
              const std::string& label, Generator& gen, const std::function<void(int64_t)>& on_epoch) {
  FitResult r;
  app::Stopwatch sw;
  nn::NamedTensors best;
  TensorList params;
  for (const auto& g : opt.param_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  const std::string& dir = cfg.state_dir;
  const json run = dir.empty() ? json() : fit_run(cfg, label, train, valid);
  int64_t first = 1;
  if (!dir.empty() && cfg.resume && std::filesystem::exists(dir + "/train_state.json")) {
    const json st = json::parse(io::read_file(dir + "/train_state.json"), nullptr, false);
    EMBER_CHECK(st.is_object() && st.contains("run") && st.contains("epoch"), "--continue: '", dir,
                "/train_state.json' is not a training state");
    EMBER_CHECK(st["run"] == run, "--continue: the fit in '", dir, "' was made with other settings:\n  saved ",
                st["run"].dump(), "\n  now   ", run.dump());
    try {
      first = st.at("epoch").get<int64_t>() + 1;
      EMBER_CHECK(first >= 2 && first <= cfg.epochs + 1, "epoch ", first - 1, " of ", cfg.epochs);
      r.best_epoch = st.at("best_epoch").get<int64_t>();
      r.best_valid_accuracy = st.at("best_valid_accuracy").get<double>();
      r.history = st.at("history");
      gen.set_offset(st.at("generator_offset").get<uint64_t>());
      default_generator().set_offset(st.at("default_generator_offset").get<uint64_t>());
      if (sched) sched->set_last_step(st.at("scheduler_step").get<int64_t>());
    } catch (const json::exception& e) {
      EMBER_FAIL("--continue: '", dir, "/train_state.json' is damaged: ", e.what());
    }
    model.load_state_dict(safetensors::load(dir + "/model.safetensors").tensors, /*strict=*/true);
    opt.load_state_dict(safetensors::load(dir + "/optimizer.safetensors").tensors);
    if (std::filesystem::exists(dir + "/best.safetensors")) best = safetensors::load(dir + "/best.safetensors").tensors;
    std::fprintf(stderr, "%s: continuing after epoch %lld of %lld, from %s\n", label.c_str(),
                 static_cast<long long>(first - 1), static_cast<long long>(cfg.epochs), dir.c_str());
  }
  for (int64_t e = first; e <= cfg.epochs; ++e) {
    std::string tag = label + " epoch " + std::to_string(e) + "/" + std::to_string(cfg.epochs);
    EpochResult tr = train_epoch(train_logits, train.labels, train.lengths, opt, sched, params, cfg, tag, gen);
    EvalResult va = evaluate(valid_logits, valid.labels, valid.lengths, cfg.eval_batch_size, label + " valid",
                             cfg.progress);
    r.history.push_back({{"epoch", e},
                         {"train_loss", tr.loss},
                         {"train_accuracy", tr.accuracy},
                         {"train_pairs_per_second", tr.pairs_per_second},
                         {"train_seconds", tr.seconds},
                         {"valid_loss", va.loss},
                         {"valid_accuracy", va.accuracy()}});
    if (cfg.epoch_lines)
      std::fprintf(stderr, "%s epoch %lld: train loss %.4f acc %.4f (%.1f pairs/s) | valid loss %.4f acc %.4f\n",
                 label.c_str(), static_cast<long long>(e), tr.loss, tr.accuracy, tr.pairs_per_second, va.loss,
                 va.accuracy());
    if (va.accuracy() > r.best_valid_accuracy) {
      r.best_valid_accuracy = va.accuracy();
      r.best_epoch = e;
      if (e < cfg.epochs) best = snapshot(model);  // the last epoch's weights are live already
      else best.clear();
    }
    if (!dir.empty()) {
      const json st = {{"run", run},
                       {"epoch", e},
                       {"best_epoch", r.best_epoch},
                       {"best_valid_accuracy", r.best_valid_accuracy},
                       {"history", r.history},
                       {"generator_offset", gen.offset()},
                       {"default_generator_offset", default_generator().offset()},
                       {"scheduler_step", sched ? sched->last_step() : 0}};
      std::vector<std::pair<std::string, std::string>> files = {
          {"model.safetensors", safetensors::save_to_memory(model.state_dict())},
          {"optimizer.safetensors", safetensors::save_to_memory(opt.state_dict())}};
      if (!best.empty()) files.emplace_back("best.safetensors", safetensors::save_to_memory(best));
      files.emplace_back("train_state.json", st.dump(2) + "\n");
      io::write_dir_atomic(dir, files);
    }
    if (on_epoch) on_epoch(e);
  }
  if (!best.empty()) restore(model, best);
  r.seconds = sw.seconds();
  return r;
}

}  // namespace ember::nli
