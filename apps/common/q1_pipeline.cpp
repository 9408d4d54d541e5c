// apps/common/q1_pipeline.cpp — see q1_pipeline.h. Batches, label splits, heads, freezing,
// feature caching and the two training loops of Q1 (head on features; whole network on images).
#include "apps/common/q1_pipeline.h"

#include <algorithm>
#include <cmath>

#include "apps/common/app_util.h"
#include "engine/optim/optim.h"

namespace ember::q1 {

namespace {

// Accuracy counts of logits (N, C) against labels (N), on the CPU.
int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  Tensor pred = max(logits.detach(), 1).second.to(Device::cpu()).contiguous();
  Tensor y = labels.to(Device::cpu()).contiguous();
  const int64_t* p = pred.data<int64_t>();
  const int64_t* t = y.data<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < pred.numel(); ++i) n += p[i] == t[i];
  return n;
}

std::vector<int64_t> slice(const std::vector<int64_t>& v, size_t begin, size_t count) {
  return {v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(begin + count)};
}

// lr(step) = base · (1 + cos(π·step/total))/2 over a phase of `total` optimizer steps.
std::unique_ptr<optim::LrScheduler> cosine_schedule(optim::Optimizer& opt, int64_t total) {
  return std::make_unique<optim::LrScheduler>(opt, [total](double base, int64_t step) {
    double t = std::min(1.0, static_cast<double>(step) / static_cast<double>(std::max<int64_t>(total, 1)));
    return base * 0.5 * (1.0 + std::cos(M_PI * t));
  });
}

// One epoch's bookkeeping: loss and accuracy over the epoch, shown in the bar.
struct EpochMeter {
  double loss_sum = 0;
  int64_t seen = 0, correct = 0;
  void add(double loss, int64_t n, int64_t right) {
    loss_sum += loss * static_cast<double>(n);
    seen += n;
    correct += right;
  }
  double loss() const { return seen ? loss_sum / static_cast<double>(seen) : 0; }
  double accuracy() const { return seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0; }
};

// After an epoch: log it, and snapshot the model when validation improved (or when there is
// no validation: every epoch, so the last one is kept).
void end_epoch(TrainResult& r, EpochLog log, nn::Module& m, nn::NamedTensors& best) {
  r.history.push_back(log);
  bool improved = log.valid_accuracy < 0 || log.valid_accuracy > r.best_valid_accuracy;
  if (improved) {
    r.best_valid_accuracy = log.valid_accuracy;
    r.best_epoch = log.epoch;
    best = snapshot(m);
  }
}

}  // namespace

// ---------------- input ----------------

Tensor make_batch(const datasets::ImageSet& set, const std::vector<int64_t>& idx, const InputPipeline& pipe,
                  Generator* aug) {
  EMBER_CHECK(set.c == 1 || set.c == 3, "q1 make_batch: expected grey (c=1) or RGB (c=3) images, got c=", set.c);
  EMBER_CHECK(pipe.image_size > 0, "q1 make_batch: image_size must be positive, got ", pipe.image_size);
  Tensor x = datasets::to_tensor(set, idx);  // (N, c, h, w) in [0, 1]
  if (aug != nullptr && pipe.max_shift > 0) x = datasets::random_crop_flip(x, pipe.max_shift, false, *aug);
  // Resize the single grey plane before copying it to three channels: a third of the work.
  if (set.h != pipe.image_size || set.w != pipe.image_size)
    x = interpolate_bilinear(x, {pipe.image_size, pipe.image_size}).contiguous();
  if (set.c == 1) x = datasets::grey_to_rgb(x);
  datasets::normalize_channels_(x, {pipe.mean.begin(), pipe.mean.end()}, {pipe.std.begin(), pipe.std.end()});
  return x;
}

// ---------------- label budget ----------------

LabelledSplit labelled_split(const std::vector<int64_t>& labels, int64_t per_class, double valid_fraction,
                             uint64_t seed, int64_t num_classes) {
  EMBER_CHECK(valid_fraction >= 0 && valid_fraction < 1, "labelled_split: valid_fraction must be in [0, 1), got ",
              valid_fraction);
  Generator gen(seed);
  std::vector<int64_t> chosen;
  if (per_class > 0) {
    chosen = datasets::balanced_subset(labels, per_class, gen, num_classes);
  } else {
    chosen.resize(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) chosen[i] = static_cast<int64_t>(i);
  }
  std::vector<std::vector<int64_t>> by_class(num_classes);
  for (int64_t i : chosen) {
    EMBER_CHECK(labels[i] >= 0 && labels[i] < num_classes, "labelled_split: label ", labels[i], " at index ", i,
                " is outside [0, ", num_classes, ")");
    by_class[labels[i]].push_back(i);
  }
  LabelledSplit s;
  for (auto& members : by_class) {
    const int64_t n = static_cast<int64_t>(members.size());
    int64_t hold = n >= 2 ? std::max<int64_t>(1, std::llround(valid_fraction * static_cast<double>(n))) : 0;
    if (valid_fraction == 0) hold = 0;
    hold = std::min(hold, std::max<int64_t>(n - 1, 0));  // every class keeps a training label
    datasets::shuffle_in_place(members, gen);
    s.valid.insert(s.valid.end(), members.begin(), members.begin() + hold);
    s.train.insert(s.train.end(), members.begin() + hold, members.end());
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.valid.begin(), s.valid.end());
  return s;
}

// ---------------- heads ----------------

const char* head_name(HeadKind kind) { return kind == HeadKind::Linear ? "linear" : "mlp"; }

HeadKind parse_head(const std::string& name) {
  if (name == "linear") return HeadKind::Linear;
  if (name == "mlp") return HeadKind::Mlp;
  EMBER_FAIL("--head must be linear or mlp, got '", name, "'");
}

std::shared_ptr<nn::Module> make_head(HeadKind kind, int64_t in_features, int64_t num_classes, Generator* gen) {
  if (kind == HeadKind::Linear) return std::make_shared<nn::Linear>(in_features, num_classes, true, gen);
  const int64_t hidden = 256;
  auto mlp = std::make_shared<nn::Sequential>();
  mlp->push_back(std::make_shared<nn::Linear>(in_features, hidden, true, gen));
  mlp->push_back(std::make_shared<nn::Functional>([](const Tensor& x) { return relu(x); }, "ReLU"));
  mlp->push_back(std::make_shared<nn::Dropout>(0.2, gen));
  mlp->push_back(std::make_shared<nn::Linear>(hidden, num_classes, true, gen));
  return mlp;
}

HeadKind choose_head(double linear_valid_accuracy, double mlp_valid_accuracy) {
  return mlp_valid_accuracy > linear_valid_accuracy ? HeadKind::Mlp : HeadKind::Linear;
}

// ---------------- the network ----------------

TransferNet::TransferNet(std::shared_ptr<models::ResNet18> extractor, std::shared_ptr<nn::Module> head)
    : extractor_(std::move(extractor)), head_(std::move(head)) {
  EMBER_CHECK(extractor_ && head_, "TransferNet: extractor and head must be given");
  register_module("extractor", extractor_);
  register_module("head", head_);
}

Tensor TransferNet::forward(const Tensor& x) { return head_->forward(extractor_->features(x)); }

const char* bn_mode_name(BnMode mode) { return mode == BnMode::Frozen ? "frozen" : "train"; }

BnMode parse_bn_mode(const std::string& name) {
  if (name == "frozen") return BnMode::Frozen;
  if (name == "train") return BnMode::Train;
  EMBER_FAIL("--bn must be frozen or train, got '", name, "'");
}

void apply_phase(TransferNet& net, const Phase& phase) {
  net.head().train();
  net.head().set_requires_grad(true);
  for (nn::Module* m : net.extractor().extractor_modules()) {
    m->set_requires_grad(!phase.extractor_frozen);
    m->train(!phase.extractor_frozen);
    if (phase.extractor_frozen || phase.bn == BnMode::Train) continue;
    for (auto& [name, sub] : m->named_modules())
      if (dynamic_cast<nn::BatchNorm2d*>(sub) != nullptr) sub->eval();
  }
}

nn::NamedTensors snapshot(const nn::Module& m) {
  NoGradGuard ng;
  nn::NamedTensors out;
  for (const auto& [name, t] : m.state_dict()) {
    Tensor copy = empty(t.shape(), Options(t.dtype(), t.device()));  // any dtype: counters are int64
    copy_(copy, t);
    out.emplace_back(name, copy);
  }
  return out;
}

void restore(nn::Module& m, const nn::NamedTensors& snap) { m.load_state_dict(snap, /*strict=*/true); }

// ---------------- features ----------------

FeatureSet extract_features(models::ResNet18& extractor, const datasets::ImageSet& set,
                            const std::vector<int64_t>& idx, const InputPipeline& pipe, int64_t batch_size,
                            Device dev, const std::string& label, bool progress) {
  EMBER_CHECK(batch_size > 0, "extract_features: batch_size must be positive, got ", batch_size);
  extractor.eval();
  NoGradGuard ng;
  const int64_t n = static_cast<int64_t>(idx.size()), steps = (n + batch_size - 1) / batch_size;
  TensorList parts;
  app::ProgressBar bar(label, steps, "img", progress);
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> b = slice(idx, s * batch_size, std::min(batch_size, n - s * batch_size));
    parts.push_back(extractor.features(make_batch(set, b, pipe).to(dev)).to(Device::cpu()));
    bar.update(s + 1, static_cast<int64_t>(b.size()));
  }
  bar.finish();
  FeatureSet fs;
  fs.x = parts.empty() ? zeros({0, 512}) : concat(parts, 0).contiguous();
  fs.y = datasets::labels_tensor(set, idx);
  return fs;
}

// ---------------- training ----------------

double accuracy_on_features(nn::Module& head, const FeatureSet& fs) {
  if (fs.size() == 0) return -1;
  head.eval();
  NoGradGuard ng;
  return static_cast<double>(count_correct(head.forward(fs.x), fs.y)) / static_cast<double>(fs.size());
}

TrainResult train_head(nn::Module& head, const FeatureSet& train, const FeatureSet& valid, const TrainOptions& o) {
  EMBER_CHECK(train.size() > 0, "train_head: no training features");
  EMBER_CHECK(o.batch_size > 0 && o.epochs > 0, "train_head: epochs and batch_size must be positive");
  app::Stopwatch clock;
  Generator gen(o.seed);
  optim::ParamGroup g;
  g.params = head.parameters();
  g.lr = o.lr;
  g.weight_decay = o.weight_decay;
  optim::AdamW opt({g});
  const int64_t n = train.size(), steps = (n + o.batch_size - 1) / o.batch_size;
  auto sched = cosine_schedule(opt, steps * o.epochs);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  const std::vector<int64_t> labels = train.y.to_vector<int64_t>();  // (index_select is for floats)
  TrainResult r;
  nn::NamedTensors best;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    head.train();
    datasets::shuffle_in_place(order, gen);
    EpochMeter meter;
    app::Stopwatch t;
    for (int64_t s = 0; s < steps; ++s) {
      std::vector<int64_t> b = slice(order, s * o.batch_size, std::min(o.batch_size, n - s * o.batch_size));
      Tensor bi = from_vector<int64_t>(b, {static_cast<int64_t>(b.size())});
      std::vector<int64_t> yb(b.size());
      for (size_t k = 0; k < b.size(); ++k) yb[k] = labels[b[k]];
      Tensor x = index_select(train.x, 0, bi), y = from_vector<int64_t>(yb, {static_cast<int64_t>(b.size())});
      opt.zero_grad();
      Tensor logits = head.forward(x);
      Tensor loss = cross_entropy(logits, y);
      loss.backward();
      opt.step();
      sched->step();
      meter.add(loss.item(), static_cast<int64_t>(b.size()), count_correct(logits, y));
    }
    EpochLog log{epoch, meter.loss(), meter.accuracy(), accuracy_on_features(head, valid),
                 static_cast<double>(n) / std::max(t.seconds(), 1e-9)};
    end_epoch(r, log, head, best);
  }
  restore(head, best);
  r.seconds = clock.seconds();
  return r;
}

namespace {

// One pass over the training images: shuffled, augmented, one optimizer step per batch.
EpochLog network_epoch(TransferNet& net, optim::Optimizer& opt, optim::LrScheduler& sched,
                       const datasets::ImageSet& set, std::vector<int64_t>& order, const InputPipeline& pipe,
                       const Phase& phase, const TrainOptions& o, Device dev, Generator& gen, int64_t epoch) {
  apply_phase(net, phase);
  datasets::shuffle_in_place(order, gen);
  const int64_t n = static_cast<int64_t>(order.size()), steps = (n + o.batch_size - 1) / o.batch_size;
  app::ProgressBar bar(o.label + " epoch " + std::to_string(epoch), steps, "img", o.progress);
  EpochMeter meter;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> b = slice(order, s * o.batch_size, std::min(o.batch_size, n - s * o.batch_size));
    Tensor x = make_batch(set, b, pipe, &gen).to(dev), y = datasets::labels_tensor(set, b).to(dev);
    opt.zero_grad();
    Tensor logits = net.forward(x);
    Tensor loss = cross_entropy(logits, y);
    loss.backward();
    opt.step();
    sched.step();
    meter.add(loss.item(), static_cast<int64_t>(b.size()), count_correct(logits, y));
    bar.update(s + 1, static_cast<int64_t>(b.size()), {{"loss", meter.loss()}, {"acc", meter.accuracy()}});
  }
  bar.finish();
  return {epoch, meter.loss(), meter.accuracy(), -1, bar.items_per_second()};
}

}  // namespace

TrainResult train_network(TransferNet& net, const datasets::ImageSet& set, const LabelledSplit& split,
                          const InputPipeline& pipe, const Phase& phase, const TrainOptions& o, Device dev) {
  EMBER_CHECK(!split.train.empty(), "train_network: no training images");
  EMBER_CHECK(o.batch_size > 0 && o.epochs > 0, "train_network: epochs and batch_size must be positive");
  app::Stopwatch clock;
  Generator gen(o.seed);
  optim::ParamGroup head_group;
  head_group.params = net.head().parameters();
  head_group.lr = o.lr;
  head_group.weight_decay = o.weight_decay;
  std::vector<optim::ParamGroup> groups{head_group};
  if (!phase.extractor_frozen) {  // the second group: the extractor at its own learning rate
    optim::ParamGroup ext = head_group;
    ext.params = net.extractor().extractor_parameters();
    ext.lr = o.extractor_lr;
    groups.push_back(ext);
  }
  optim::AdamW opt(groups);
  const int64_t n = static_cast<int64_t>(split.train.size()), steps = (n + o.batch_size - 1) / o.batch_size;
  auto sched = cosine_schedule(opt, steps * o.epochs);
  std::vector<int64_t> order = split.train;
  TrainResult r;
  nn::NamedTensors best;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    EpochLog log = network_epoch(net, opt, *sched, set, order, pipe, phase, o, dev, gen, epoch);
    if (!split.valid.empty())
      log.valid_accuracy = evaluate_network(net, set, split.valid, pipe, 256, dev, o.label + " valid", false);
    std::printf("  %s epoch %lld: loss %.4f, train acc %.4f, valid acc %.4f, %.0f img/s\n", o.label.c_str(),
                static_cast<long long>(epoch), log.loss, log.train_accuracy, log.valid_accuracy, log.images_per_second);
    end_epoch(r, log, net, best);
  }
  restore(net, best);
  r.seconds = clock.seconds();
  return r;
}

double evaluate_network(TransferNet& net, const datasets::ImageSet& set, const std::vector<int64_t>& idx,
                        const InputPipeline& pipe, int64_t batch_size, Device dev, const std::string& label,
                        bool progress) {
  if (idx.empty()) return -1;
  net.eval();
  NoGradGuard ng;
  const int64_t n = static_cast<int64_t>(idx.size()), steps = (n + batch_size - 1) / batch_size;
  app::ProgressBar bar(label, steps, "img", progress);
  int64_t correct = 0;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> b = slice(idx, s * batch_size, std::min(batch_size, n - s * batch_size));
    correct += count_correct(net.forward(make_batch(set, b, pipe).to(dev)), datasets::labels_tensor(set, b));
    bar.update(s + 1, static_cast<int64_t>(b.size()),
               {{"acc", static_cast<double>(correct) / static_cast<double>((s * batch_size) + b.size())}});
  }
  bar.finish();
  return static_cast<double>(correct) / static_cast<double>(n);
}

}  // namespace ember::q1
