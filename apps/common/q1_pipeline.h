// apps/common/q1_pipeline.h — the building blocks of Q1 (ResNet18 transfer to few-label MNIST),
// shared by apps/q1_mnist.cpp and tests/test_q1.cpp.
//
//   input      uint8 digits (N, 1, 28, 28) → [random shift] → bilinear resize to image_size →
//              grey → 3 channels → normalise with the weights' mean/std → (N, 3, S, S) float32
//   labels     a balanced subset of N labels per class (or all), then a per-class validation split
//   heads      Part A: linear = Linear(512, 10); mlp = Linear(512, 256) → ReLU → Dropout(0.2) →
//              Linear(256, 10); the default is the one with the better validation accuracy
//   frozen     the extractor (everything of ResNet18 but fc) in eval mode with requires_grad off:
//              its output never changes, so the 512-d features are computed once and the head
//              trains on the cached features (Part B/C)
//   unfrozen   the extractor trainable at its own, smaller learning rate (a second ParamGroup);
//              batch norm either re-estimates its statistics from the batches (BnMode::Train, the
//              app's default: MNIST's statistics are far from the pretraining data's) or keeps the
//              pretrained running statistics (BnMode::Frozen: eval mode inside a training network,
//              for batches too small to give usable statistics) (Part D)
//   scratch    the same TransferNet with a random-init extractor, everything trained
//
// Every training loop keeps the weights of its best validation epoch (the last epoch when the
// validation split is empty), and is seeded: same seed, same numbers.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "datasets/image_batch.h"
#include "engine/nn/layers.h"
#include "models/resnet18.h"

namespace ember::q1 {

// ---------------- input ----------------

struct InputPipeline {
  int64_t image_size = 32;
  std::array<float, 3> mean{0.4914f, 0.4822f, 0.4465f};
  std::array<float, 3> std{0.2470f, 0.2435f, 0.2616f};
  int64_t max_shift = 0;  // training augmentation: shift by up to this many source pixels (0: none)
};

// Images idx of `set` (c = 1 or 3) as a normalised (N, 3, S, S) float32 CPU batch. With `aug`,
// each image is shifted by a random (dy, dx) ∈ [−max_shift, max_shift]² (zero fill) first.
Tensor make_batch(const datasets::ImageSet& set, const std::vector<int64_t>& idx, const InputPipeline& pipe,
                  Generator* aug = nullptr);

// ---------------- label budget ----------------

struct LabelledSplit {
  std::vector<int64_t> train, valid;  // indices into the training ImageSet, ascending
};
// per_class > 0: that many labels of each class (balanced_subset); per_class <= 0: every label.
// Then, per class with n_c ≥ 2 labels, max(1, round(valid_fraction · n_c)) go to validation (a
// class with a single label keeps it for training: with 1 label per class there is no validation).
LabelledSplit labelled_split(const std::vector<int64_t>& labels, int64_t per_class, double valid_fraction,
                             uint64_t seed, int64_t num_classes = 10);

// ---------------- heads (Part A) ----------------

enum class HeadKind { Linear, Mlp };
const char* head_name(HeadKind kind);
HeadKind parse_head(const std::string& name);  // "linear" | "mlp"
std::shared_ptr<nn::Module> make_head(HeadKind kind, int64_t in_features, int64_t num_classes, Generator* gen);
// The MLP must beat the linear head on validation to be chosen; a tie keeps the simpler head.
HeadKind choose_head(double linear_valid_accuracy, double mlp_valid_accuracy);

// ---------------- the network ----------------

// ResNet18 features (N, 512) → head → logits. The extractor's own fc is kept (so a checkpoint
// still loads and saves by torchvision names) but is not used.
class TransferNet : public nn::Module {
 public:
  TransferNet(std::shared_ptr<models::ResNet18> extractor, std::shared_ptr<nn::Module> head);
  std::string type_name() const override { return "TransferNet"; }
  Tensor forward(const Tensor& x) override;
  models::ResNet18& extractor() const { return *extractor_; }
  nn::Module& head() const { return *head_; }

 private:
  std::shared_ptr<models::ResNet18> extractor_;
  std::shared_ptr<nn::Module> head_;
};

enum class BnMode { Frozen, Train };
const char* bn_mode_name(BnMode mode);
BnMode parse_bn_mode(const std::string& name);  // "frozen" | "train"

// How a training phase treats the extractor.
struct Phase {
  bool extractor_frozen = false;
  BnMode bn = BnMode::Train;  // when unfrozen: re-estimate BN statistics, or keep the pretrained ones
};
// Sets train/eval modes and requires_grad for one phase: the head always trains; a frozen
// extractor is in eval mode with requires_grad off; an unfrozen one trains, its BatchNorm2d
// layers in eval mode when bn == Frozen (their weight and bias still learn).
void apply_phase(TransferNet& net, const Phase& phase);

// A snapshot of every parameter and buffer (deep copies), and putting one back.
nn::NamedTensors snapshot(const nn::Module& m);
void restore(nn::Module& m, const nn::NamedTensors& snap);

// ---------------- features (frozen mode) ----------------

struct FeatureSet {
  Tensor x;  // (N, 512) float32 CPU
  Tensor y;  // (N) int64 CPU
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
};
// The extractor's features of images idx, in eval mode without autograd, `batch_size` at a time.
FeatureSet extract_features(models::ResNet18& extractor, const datasets::ImageSet& set,
                            const std::vector<int64_t>& idx, const InputPipeline& pipe, int64_t batch_size,
                            Device dev, const std::string& label, bool progress = true);

// ---------------- training ----------------

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  double lr = 1e-3;            // the head (and, from scratch, the whole network)
  double extractor_lr = 1e-4;  // an unfrozen pretrained extractor
  double weight_decay = 1e-4;  // AdamW, decoupled
  uint64_t seed = 0;
  std::string label = "train";  // progress-bar prefix
  bool progress = true;         // draw progress bars
};

struct EpochLog {
  int64_t epoch = 0;
  double loss = 0, train_accuracy = 0, valid_accuracy = -1, images_per_second = 0;
};
struct TrainResult {
  std::vector<EpochLog> history;
  int64_t best_epoch = 0;
  double best_valid_accuracy = -1;  // -1: no validation split
  double seconds = 0;
};

// AdamW on the head over cached features, cosine learning rate; keeps the best validation epoch.
TrainResult train_head(nn::Module& head, const FeatureSet& train, const FeatureSet& valid, const TrainOptions& o);

// AdamW on the whole network over images (augmented with pipe.max_shift), cosine learning rate;
// the head at o.lr and an unfrozen extractor at o.extractor_lr (two ParamGroups). Keeps the
// best validation epoch (validation images are not augmented).
TrainResult train_network(TransferNet& net, const datasets::ImageSet& set, const LabelledSplit& split,
                          const InputPipeline& pipe, const Phase& phase, const TrainOptions& o, Device dev);

// Accuracy in [0, 1] of a head on cached features (eval mode).
double accuracy_on_features(nn::Module& head, const FeatureSet& fs);
// Accuracy in [0, 1] of the network on images idx (eval mode, no augmentation, no autograd).
double evaluate_network(TransferNet& net, const datasets::ImageSet& set, const std::vector<int64_t>& idx,
                        const InputPipeline& pipe, int64_t batch_size, Device dev, const std::string& label,
                        bool progress = true);

}  // namespace ember::q1
