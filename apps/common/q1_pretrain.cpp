// apps/common/q1_pretrain.cpp — see q1_pretrain.h.
#include "apps/common/q1_pretrain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "apps/common/app_util.h"
#include "datasets/cifar10.h"
#include "engine/optim/optim.h"

namespace ember::q1 {

namespace {

const std::array<float, 3> kCifarMean{0.4914f, 0.4822f, 0.4465f};
const std::array<float, 3> kCifarStd{0.2470f, 0.2435f, 0.2616f};

Tensor cifar_batch(const datasets::ImageSet& set, const std::vector<int64_t>& idx, Generator* aug) {
  Tensor x = datasets::to_tensor(set, idx);  // (N, 3, 32, 32) in [0, 1]
  if (aug != nullptr) x = datasets::random_crop_flip(x, 4, true, *aug);
  datasets::normalize_channels_(x, {kCifarMean.begin(), kCifarMean.end()}, {kCifarStd.begin(), kCifarStd.end()});
  return x;
}

double cifar_accuracy(models::ResNet18& model, const datasets::ImageSet& set, int64_t count, Device dev,
                      bool progress) {
  model.eval();
  NoGradGuard ng;
  const int64_t batch = 250, steps = (count + batch - 1) / batch;
  app::ProgressBar bar("cifar10 test", steps, "img", progress);
  int64_t correct = 0;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> b;
    for (int64_t i = s * batch; i < std::min(count, (s + 1) * batch); ++i) b.push_back(i);
    Tensor pred = max(model.forward(cifar_batch(set, b, nullptr).to(dev)), 1).second.to(Device::cpu());
    const int64_t* p = pred.contiguous().data<int64_t>();
    for (size_t k = 0; k < b.size(); ++k) correct += p[k] == set.labels[b[k]];
    bar.update(s + 1, static_cast<int64_t>(b.size()));
  }
  bar.finish();
  return static_cast<double>(correct) / static_cast<double>(count);
}

struct EpochStats {
  double loss = 0, accuracy = 0, images_per_second = 0;
};

// One pass over `pool` (shuffled), augmented, one SGD step per batch.
EpochStats pretrain_epoch(models::ResNet18& model, optim::Optimizer& opt, optim::LrScheduler& sched,
                          const datasets::ImageSet& train, std::vector<int64_t>& pool, int64_t batch_size, Device dev,
                          Generator& gen, int64_t epoch, bool progress) {
  model.train();
  datasets::shuffle_in_place(pool, gen);
  const int64_t n = static_cast<int64_t>(pool.size()), steps = (n + batch_size - 1) / batch_size;
  app::ProgressBar bar("pretrain epoch " + std::to_string(epoch), steps, "img", progress);
  double loss_sum = 0;
  int64_t seen = 0, correct = 0;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> b(pool.begin() + s * batch_size, pool.begin() + std::min(n, (s + 1) * batch_size));
    opt.zero_grad();
    Tensor logits = model.forward(cifar_batch(train, b, &gen).to(dev));
    Tensor loss = cross_entropy(logits, datasets::labels_tensor(train, b).to(dev));
    loss.backward();
    opt.step();
    sched.step();
    Tensor pred = max(logits.detach(), 1).second.to(Device::cpu()).contiguous();
    for (size_t k = 0; k < b.size(); ++k) correct += pred.data<int64_t>()[k] == train.labels[b[k]];
    loss_sum += loss.item() * static_cast<double>(b.size());
    seen += static_cast<int64_t>(b.size());
    bar.update(s + 1, static_cast<int64_t>(b.size()),
               {{"loss", loss_sum / static_cast<double>(seen)},
                {"acc", static_cast<double>(correct) / static_cast<double>(seen)}});
  }
  bar.finish();
  return {loss_sum / static_cast<double>(seen), static_cast<double>(correct) / static_cast<double>(seen),
          bar.items_per_second()};
}

// Warm-up from 0 over `warmup` steps, then cosine to 0 at `total`.
double warmup_cosine(double base, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return base * static_cast<double>(step + 1) / static_cast<double>(warmup + 1);
  double t = static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(total - warmup, 1));
  return base * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, t)));
}

}  // namespace

std::string find_cifar10_dir(const std::string& data_dir) {
  for (const char* sub : {"/cifar10", "/cifar-10-batches-bin"})
    if (std::filesystem::exists(data_dir + sub + "/data_batch_1.bin")) return data_dir + sub;
  return data_dir;
}

nlohmann::json PretrainResult::to_json(const PretrainConfig& cfg) const {
  return {{"dataset", "cifar10"},
          {"epochs", cfg.epochs},
          {"train_images", train_images},
          {"batch_size", cfg.batch_size},
          {"lr", cfg.lr},
          {"momentum", cfg.momentum},
          {"weight_decay", cfg.weight_decay},
          {"schedule", "linear warm-up then cosine, per step"},
          {"augmentation", "random crop (pad 4) + horizontal flip"},
          {"seed", cfg.seed},
          {"final_train_loss", train_loss},
          {"final_train_accuracy", train_accuracy},
          {"cifar10_test_accuracy", test_accuracy},
          {"cifar10_test_images", test_images},
          {"images_per_second", images_per_second},
          {"seconds", seconds}};
}

PretrainResult pretrain_resnet18_cifar10(const std::string& cifar_dir, const PretrainConfig& cfg) {
  EMBER_CHECK(cfg.epochs > 0 && cfg.batch_size > 0, "pretrain: epochs and batch size must be positive, got ",
              cfg.epochs, " and ", cfg.batch_size);
  app::Stopwatch clock;
  Device dev = Device::parse(cfg.device);
  datasets::ImageSet train = datasets::load_cifar10(cifar_dir, true);
  datasets::ImageSet test = datasets::load_cifar10(cifar_dir, false);
  Generator gen(cfg.seed);
  std::vector<int64_t> pool;
  if (cfg.train_images > 0 && cfg.train_images < train.n) {
    pool = datasets::balanced_subset(train.labels, std::max<int64_t>(1, cfg.train_images / 10), gen);
  } else {
    for (int64_t i = 0; i < train.n; ++i) pool.push_back(i);
  }
  PretrainResult r;
  r.train_images = static_cast<int64_t>(pool.size());
  r.test_images = cfg.test_images > 0 ? std::min(cfg.test_images, test.n) : test.n;
  std::printf("pretraining ResNet18 on CIFAR-10: %lld train images, %lld epochs, batch %lld, lr %g (SGD m 0.9, "
              "wd %g, warm-up + cosine), device %s\n",
              static_cast<long long>(r.train_images), static_cast<long long>(cfg.epochs),
              static_cast<long long>(cfg.batch_size), cfg.lr, cfg.weight_decay, dev.str().c_str());

  r.model = std::make_shared<models::ResNet18>(10, &gen);
  r.model->to(dev);
  optim::SGD opt(r.model->parameters(), cfg.lr, cfg.momentum, cfg.weight_decay);
  const int64_t steps = (r.train_images + cfg.batch_size - 1) / cfg.batch_size, total = steps * cfg.epochs;
  const int64_t warmup = static_cast<int64_t>(cfg.warmup_fraction * static_cast<double>(total));
  optim::LrScheduler sched(opt, [=](double base, int64_t step) { return warmup_cosine(base, step, warmup, total); });
  for (int64_t epoch = 1; epoch <= cfg.epochs; ++epoch) {
    EpochStats e = pretrain_epoch(*r.model, opt, sched, train, pool, cfg.batch_size, dev, gen, epoch, cfg.progress);
    r.train_loss = e.loss, r.train_accuracy = e.accuracy, r.images_per_second = e.images_per_second;
  }
  r.test_accuracy = cifar_accuracy(*r.model, test, r.test_images, dev, cfg.progress);
  r.model->eval();
  r.model->to(Device::cpu());
  r.preprocessing.image_size = 32;
  r.preprocessing.mean = kCifarMean;
  r.preprocessing.std = kCifarStd;
  r.preprocessing.dataset = "cifar10";
  r.preprocessing.classes = datasets::cifar10_class_names(cifar_dir);
  r.seconds = clock.seconds();
  std::printf("pretraining done: train loss %.4f acc %.4f, CIFAR-10 test accuracy %.4f (%lld images), %.0f img/s, "
              "%.1f s\n",
              r.train_loss, r.train_accuracy, r.test_accuracy, static_cast<long long>(r.test_images),
              r.images_per_second, r.seconds);
  return r;
}

}  // namespace ember::q1
