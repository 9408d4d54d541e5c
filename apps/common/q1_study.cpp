// apps/common/q1_study.cpp — see q1_study.h.
#include "apps/common/q1_study.h"

#include <algorithm>
#include <cstdio>

#include "apps/common/app_util.h"

namespace ember::q1 {

using nlohmann::json;

namespace {

json history_json(const TrainResult& r) {
  json h = json::array();
  for (const EpochLog& e : r.history)
    h.push_back({{"epoch", e.epoch},
                 {"loss", e.loss},
                 {"train_accuracy", e.train_accuracy},
                 {"valid_accuracy", e.valid_accuracy},
                 {"images_per_second", e.images_per_second}});
  return h;
}

json mode_json(const ModeResult& m) {
  return {{"valid_accuracy", m.valid_accuracy},
          {"test_accuracy", m.test_accuracy},
          {"best_epoch", m.best_epoch},
          {"seconds", m.seconds},
          {"history", m.history}};
}

TrainOptions options(const StudyConfig& cfg, int64_t epochs, double lr, const std::string& label, uint64_t salt) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = cfg.batch_size;
  o.lr = lr;
  o.extractor_lr = cfg.extractor_lr;
  o.weight_decay = cfg.weight_decay;
  o.seed = cfg.seed * 1000003ull + salt;  // each run its own stream, all fixed by --seed
  o.label = label;
  o.progress = cfg.progress;
  return o;
}

struct CachedFeatures {
  FeatureSet train, valid, test;
};

// Part A–C: a head of `kind` on cached features for frozen_epochs + epochs; the result and the head.
std::pair<ModeResult, std::shared_ptr<nn::Module>> frozen_head(HeadKind kind, const CachedFeatures& f,
                                                               const StudyConfig& cfg) {
  app::Stopwatch clock;
  Generator init(cfg.seed + 11);
  auto head = make_head(kind, 512, 10, &init);
  TrainResult tr = train_head(*head, f.train, f.valid,
                              options(cfg, cfg.head_epochs, cfg.lr, "frozen", 1));
  ModeResult m;
  m.valid_accuracy = tr.best_valid_accuracy;
  m.best_epoch = tr.best_epoch;
  m.test_accuracy = accuracy_on_features(*head, f.test);
  m.history = history_json(tr);
  m.seconds = clock.seconds();
  std::printf("  frozen %-6s head: best epoch %lld, valid acc %.4f, test acc %.4f (%.1f s)\n", head_name(kind),
              static_cast<long long>(m.best_epoch), m.valid_accuracy, m.test_accuracy, m.seconds);
  return {m, head};
}

// Part D: frozen_epochs on cached features, then the whole network with the extractor unfrozen.
ModeResult unfrozen_mode(std::shared_ptr<models::ResNet18> extractor, HeadKind kind, const CachedFeatures& f,
                         const datasets::ImageSet& train, const datasets::ImageSet& test,
                         const LabelledSplit& split, const std::vector<int64_t>& test_idx, const StudyConfig& cfg) {
  app::Stopwatch clock;
  Generator init(cfg.seed + 11);  // the same initial head as the frozen run
  auto head = make_head(kind, 512, 10, &init);
  TrainResult warm;  // frozen_epochs = 0: unfreeze at once, with a fresh head
  if (cfg.frozen_epochs > 0)
    warm = train_head(*head, f.train, f.valid, options(cfg, cfg.frozen_epochs, cfg.lr, "warm-up", 2));
  std::printf("  unfrozen: %lld frozen epochs on cached features, valid acc %.4f; unfreezing (batch norm %s)\n",
              static_cast<long long>(cfg.frozen_epochs), warm.best_valid_accuracy, bn_mode_name(cfg.bn));
  TransferNet net(std::move(extractor), head);
  net.to(cfg.device);
  InputPipeline pipe = cfg.pipe;
  TrainResult tr = train_network(net, train, split, pipe, Phase{false, cfg.bn},
                                 options(cfg, cfg.epochs, cfg.lr, "unfrozen", 3), cfg.device);
  ModeResult m;
  m.valid_accuracy = tr.best_valid_accuracy;
  m.best_epoch = tr.best_epoch;
  m.test_accuracy = evaluate_network(net, test, test_idx, pipe, cfg.eval_batch_size, cfg.device, "unfrozen test",
                                     cfg.progress);
  json h = history_json(warm);
  for (json& e : h) e["phase"] = "frozen";
  for (json e : history_json(tr)) {
    e["phase"] = "unfrozen";
    h.push_back(e);
  }
  m.history = h;
  m.seconds = clock.seconds();
  return m;
}

// The baseline: the same network from random init on the same labelled images.
ModeResult scratch_mode(HeadKind kind, const datasets::ImageSet& train, const datasets::ImageSet& test,
                        const LabelledSplit& split, const std::vector<int64_t>& test_idx, const StudyConfig& cfg) {
  app::Stopwatch clock;
  Generator init(cfg.seed + 23);
  auto extractor = std::make_shared<models::ResNet18>(10, &init);
  TransferNet net(extractor, make_head(kind, 512, 10, &init));
  net.to(cfg.device);
  TrainOptions o = options(cfg, cfg.scratch_epochs, cfg.scratch_lr, "scratch", 4);
  o.extractor_lr = cfg.scratch_lr;
  TrainResult tr = train_network(net, train, split, cfg.pipe, Phase{false, BnMode::Train}, o, cfg.device);
  ModeResult m;
  m.valid_accuracy = tr.best_valid_accuracy;
  m.best_epoch = tr.best_epoch;
  m.test_accuracy = evaluate_network(net, test, test_idx, cfg.pipe, cfg.eval_batch_size, cfg.device,
                                     "scratch test", cfg.progress);
  m.history = history_json(tr);
  m.seconds = clock.seconds();
  return m;
}

CachedFeatures cache_features(models::ResNet18& extractor, const datasets::ImageSet& train,
                              const datasets::ImageSet& test, const LabelledSplit& split,
                              const std::vector<int64_t>& test_idx, const StudyConfig& cfg) {
  CachedFeatures f;
  f.train = extract_features(extractor, train, split.train, cfg.pipe, cfg.eval_batch_size, cfg.device,
                             "features train", cfg.progress);
  f.valid = extract_features(extractor, train, split.valid, cfg.pipe, cfg.eval_batch_size, cfg.device,
                             "features valid", cfg.progress);
  f.test = extract_features(extractor, test, test_idx, cfg.pipe, cfg.eval_batch_size, cfg.device,
                            "features test", cfg.progress);
  std::printf("  features cached: %lld images\n", static_cast<long long>(f.train.size() + f.valid.size() + f.test.size()));
  return f;
}

// Part A (the head) and Parts B/C (its frozen result). Both heads are cheap on cached features,
// so without --head both run and validation picks.
void part_a(StudyResult& r, const CachedFeatures& f, const StudyConfig& cfg) {
  r.head_from_flag = !cfg.head.empty();
  if (r.head_from_flag) {
    r.head = parse_head(cfg.head);
    r.frozen = frozen_head(r.head, f, cfg).first;
    (r.head == HeadKind::Linear ? r.linear_valid_accuracy : r.mlp_valid_accuracy) = r.frozen.valid_accuracy;
    (r.head == HeadKind::Linear ? r.linear_test_accuracy : r.mlp_test_accuracy) = r.frozen.test_accuracy;
    return;
  }
  ModeResult lin = frozen_head(HeadKind::Linear, f, cfg).first;
  ModeResult mlp = frozen_head(HeadKind::Mlp, f, cfg).first;
  r.linear_valid_accuracy = lin.valid_accuracy, r.linear_test_accuracy = lin.test_accuracy;
  r.mlp_valid_accuracy = mlp.valid_accuracy, r.mlp_test_accuracy = mlp.test_accuracy;
  r.head = choose_head(lin.valid_accuracy, mlp.valid_accuracy);
  r.frozen = r.head == HeadKind::Linear ? lin : mlp;
  std::printf("  Part A: linear valid %.4f vs mlp valid %.4f -> head: %s\n", lin.valid_accuracy,
              mlp.valid_accuracy, head_name(r.head));
}

}  // namespace

std::shared_ptr<models::ResNet18> copy_resnet18(const models::ResNet18& src) {
  auto out = std::make_shared<models::ResNet18>(src.num_classes());
  out->load_state_dict(snapshot(src), /*strict=*/true);
  return out;
}

json StudyResult::to_json() const {
  return {{"labels_per_class", labels_per_class > 0 ? json(labels_per_class) : json("all")},
          {"train_examples", train_examples},
          {"valid_examples", valid_examples},
          {"test_examples", test_examples},
          {"head", head_name(head)},
          {"head_chosen_by", head_from_flag ? "--head" : "validation accuracy"},
          {"linear_valid_accuracy", linear_valid_accuracy},
          {"mlp_valid_accuracy", mlp_valid_accuracy},
          {"linear_test_accuracy", linear_test_accuracy},
          {"mlp_test_accuracy", mlp_test_accuracy},
          {"frozen_test_accuracy", frozen.test_accuracy},
          {"unfrozen_test_accuracy", unfrozen.test_accuracy},
          {"scratch_test_accuracy", scratch.test_accuracy},
          {"frozen_valid_accuracy", frozen.valid_accuracy},
          {"unfrozen_valid_accuracy", unfrozen.valid_accuracy},
          {"scratch_valid_accuracy", scratch.valid_accuracy},
          {"frozen", mode_json(frozen)},
          {"unfrozen", mode_json(unfrozen)},
          {"scratch", mode_json(scratch)},
          {"features_seconds", features_seconds},
          {"seconds", seconds}};
}

namespace {

// With few labels an epoch is one or two steps: min_steps raises the epoch counts so that
// every run still takes at least that many optimizer steps.
StudyConfig with_min_steps(StudyConfig cfg, int64_t train_images) {
  if (cfg.min_steps <= 0) return cfg;
  const int64_t per_epoch = std::max<int64_t>(1, (train_images + cfg.batch_size - 1) / cfg.batch_size);
  const int64_t least = (cfg.min_steps + per_epoch - 1) / per_epoch;
  for (int64_t* e : {&cfg.head_epochs, &cfg.frozen_epochs, &cfg.epochs, &cfg.scratch_epochs})
    if (*e > 0 && *e < least) *e = least;
  return cfg;
}

}  // namespace

StudyResult run_study(const models::ResNet18& pretrained, const datasets::ImageSet& train,
                      const datasets::ImageSet& test, const StudyConfig& config) {
  app::Stopwatch clock;
  StudyResult r;
  r.labels_per_class = config.labels_per_class;
  LabelledSplit split = labelled_split(train.labels, config.labels_per_class, config.valid_fraction, config.seed);
  const StudyConfig cfg = with_min_steps(config, static_cast<int64_t>(split.train.size()));
  std::vector<int64_t> test_idx(test.n);
  for (int64_t i = 0; i < test.n; ++i) test_idx[i] = i;
  r.train_examples = static_cast<int64_t>(split.train.size());
  r.valid_examples = static_cast<int64_t>(split.valid.size());
  r.test_examples = test.n;
  std::printf("\n== labels per class: %s -> %lld train, %lld validation, %lld test images ==\n",
              r.labels_str().c_str(), static_cast<long long>(r.train_examples),
              static_cast<long long>(r.valid_examples), static_cast<long long>(r.test_examples));
  std::printf("  epochs: heads %lld, frozen %lld then unfrozen %lld, scratch %lld (batch %lld)\n",
              static_cast<long long>(cfg.head_epochs), static_cast<long long>(cfg.frozen_epochs),
              static_cast<long long>(cfg.epochs), static_cast<long long>(cfg.scratch_epochs),
              static_cast<long long>(cfg.batch_size));

  // Frozen extractor: eval mode, no grad; its features never change, so compute them once.
  std::shared_ptr<models::ResNet18> extractor = copy_resnet18(pretrained);
  extractor->to(cfg.device);
  extractor->set_requires_grad(false);
  app::Stopwatch fclock;
  CachedFeatures f = cache_features(*extractor, train, test, split, test_idx, cfg);
  r.features_seconds = fclock.seconds();
  part_a(r, f, cfg);

  // Part D: the frozen extractor is still exactly the pretrained one, so it is reused here.
  r.unfrozen = unfrozen_mode(extractor, r.head, f, train, test, split, test_idx, cfg);
  std::printf("  unfrozen: best epoch %lld, valid acc %.4f, test acc %.4f (%.1f s)\n",
              static_cast<long long>(r.unfrozen.best_epoch), r.unfrozen.valid_accuracy, r.unfrozen.test_accuracy,
              r.unfrozen.seconds);
  if (cfg.scratch_epochs > 0) {
    r.scratch = scratch_mode(r.head, train, test, split, test_idx, cfg);
    std::printf("  scratch: best epoch %lld, valid acc %.4f, test acc %.4f (%.1f s)\n",
                static_cast<long long>(r.scratch.best_epoch), r.scratch.valid_accuracy, r.scratch.test_accuracy,
                r.scratch.seconds);
  }
  r.seconds = clock.seconds();
  return r;
}

}  // namespace ember::q1
