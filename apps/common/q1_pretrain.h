// apps/common/q1_pretrain.h — pretraining ResNet18 on CIFAR-10, the "larger corpus" of Q1.
//
// No ImageNet weights are in the shared data, so Q1 follows the assignment's own recipe: train
// the feature extractor on a bigger labelled image set first, then transfer it to few-label
// MNIST. The recipe is the usual CIFAR one: random crop with 4 pixels of zero padding and a
// horizontal flip, normalised with the CIFAR-10 mean/std; SGD with momentum 0.9 and weight decay
// 5e-4; a linear warm-up over the first 5% of steps, then a cosine decay to 0 (per step).
// Used by apps/pretrain_resnet18.cpp and by q1_mnist when no --weights are given.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "models/resnet18.h"

namespace ember::q1 {

struct PretrainConfig {
  int64_t epochs = 30;
  int64_t train_images = 0;  // a class-balanced subset of this many (0: all 50,000)
  int64_t test_images = 0;   // evaluate on the first this many test images (0: all 10,000)
  int64_t batch_size = 128;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double warmup_fraction = 0.05;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool progress = true;  // false: no progress bars (q1_mnist --no-progress)
};

struct PretrainResult {
  std::shared_ptr<models::ResNet18> model;  // eval mode, on the CPU
  models::ImagePreprocessing preprocessing;  // image_size 32, CIFAR mean/std, classes
  double test_accuracy = 0;
  int64_t train_images = 0, test_images = 0;
  double train_loss = 0, train_accuracy = 0;  // of the last epoch
  double images_per_second = 0, seconds = 0;
  nlohmann::json to_json(const PretrainConfig& cfg) const;  // the figures, for results files
};

// Trains a ResNet18 (num_classes 10) on CIFAR-10 from `cifar_dir` (the cifar-10-batches-bin files).
PretrainResult pretrain_resnet18_cifar10(const std::string& cifar_dir, const PretrainConfig& cfg);

// The CIFAR-10 folder under a data folder: DIR/cifar10, DIR/cifar-10-batches-bin, or DIR itself.
std::string find_cifar10_dir(const std::string& data_dir);

}  // namespace ember::q1
