// apps/common/q1_study.h — one run of the Q1 study at one label budget: Parts A–D and the
// from-scratch baseline, on the blocks of q1_pipeline.h.
//
//   1. labels     a balanced subset of labels_per_class per class, a per-class validation split
//   2. features   the pretrained extractor, frozen (eval mode, no grad), maps the labelled
//                 train/valid images and the whole test set to 512-d features — once
//   3. Part A     unless a head is given, both heads train on the cached features and the one
//                 with the better validation accuracy is chosen
//   4. Part B/C   frozen: the chosen head, head_epochs on cached features (cheap, so many: the
//                 frozen baseline is trained to convergence); test accuracy from cached test features
//   5. Part D     unfrozen: a fresh head, frozen_epochs on cached features (extractor frozen),
//                 then the extractor is unfrozen and the whole network trains `epochs` more
//                 epochs on augmented images, the extractor at extractor_lr (its own ParamGroup)
//   6. scratch    the same network from random init, everything at scratch_lr, batch norm in
//                 training mode, scratch_epochs on the same labelled images
// Every mode keeps its best validation epoch; test accuracy is on every test image given.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "apps/common/q1_pipeline.h"

namespace ember::q1 {

struct StudyConfig {
  int64_t labels_per_class = 100;  // <= 0: every label
  double valid_fraction = 0.2;
  std::string head;                // "linear" | "mlp" | "" (choose by validation)
  int64_t head_epochs = 100;       // Parts A-C: head epochs on cached features
  int64_t frozen_epochs = 10;      // Part D's epochs before unfreezing
  int64_t epochs = 10;             // Part D's epochs after unfreezing
  int64_t scratch_epochs = 20;     // 0: skip the baseline
  int64_t batch_size = 64;
  int64_t min_steps = 0;           // raise every epoch count so a run takes at least this many steps
  int64_t eval_batch_size = 250;
  double lr = 1e-2;                // the head
  double extractor_lr = 5e-4;      // the unfrozen extractor
  double scratch_lr = 1e-3;        // every parameter of the from-scratch network
  double weight_decay = 1e-4;
  BnMode bn = BnMode::Train;       // batch norm after unfreezing
  InputPipeline pipe;              // image size, mean/std, training shift
  uint64_t seed = 0;
  Device device = Device::cpu();
  bool progress = true;
};

struct ModeResult {
  double valid_accuracy = -1, test_accuracy = -1, seconds = 0;
  int64_t best_epoch = 0;
  nlohmann::json history = nlohmann::json::array();
};

struct StudyResult {
  int64_t labels_per_class = 0;  // <= 0: all
  int64_t train_examples = 0, valid_examples = 0, test_examples = 0;
  double linear_valid_accuracy = -1, mlp_valid_accuracy = -1;  // Part A (-1: not run)
  double linear_test_accuracy = -1, mlp_test_accuracy = -1;
  HeadKind head = HeadKind::Linear;
  bool head_from_flag = false;
  ModeResult frozen, unfrozen, scratch;
  double features_seconds = 0, seconds = 0;
  nlohmann::json to_json() const;
  std::string labels_str() const { return labels_per_class > 0 ? std::to_string(labels_per_class) : "all"; }
};

// One study at cfg.labels_per_class. `pretrained` is not modified (each mode works on a copy).
StudyResult run_study(const models::ResNet18& pretrained, const datasets::ImageSet& train,
                      const datasets::ImageSet& test, const StudyConfig& cfg);

// A new ResNet18 holding a copy of src's parameters and buffers.
std::shared_ptr<models::ResNet18> copy_resnet18(const models::ResNet18& src);

}  // namespace ember::q1
