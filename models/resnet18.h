// models/resnet18.h — torchvision's ResNet18, exactly: architecture and tensor names.
//
//   conv1 (64, 3, 7, 7) stride 2 pad 3, no bias → bn1 → relu → maxpool 3/2/1
//   layer1..layer4: two BasicBlocks each (conv3x3 → bn → relu → conv3x3 → bn, + identity or
//   downsample = Sequential(conv1x1 stride 2 "downsample.0", BatchNorm2d "downsample.1"), relu)
//   with 64, 128, 256, 512 channels; layer2..4 start with stride 2
//   → adaptive_avg_pool2d(1) → flatten → fc (num_classes, 512)
// so a torchvision or timm ResNet18 state_dict (converted to safetensors) loads by name:
// conv1.weight, bn1.running_mean, layer2.0.downsample.0.weight, …, fc.weight, fc.bias.
// num_batches_tracked is accepted and ignored on load (torchvision files carry it, timm ones
// do not). timm names (conv1/bn1/layerN/fc are the same in timm's resnet18) load as they are.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/layers.h"

namespace ember::models {

class BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Generator* gen = nullptr);
  std::string type_name() const override { return "BasicBlock"; }
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<nn::Conv2d> conv1_, conv2_;
  std::shared_ptr<nn::BatchNorm2d> bn1_, bn2_;
  std::shared_ptr<nn::Sequential> downsample_;  // null when the shapes match
};

class ResNet18 : public nn::Module {
 public:
  explicit ResNet18(int64_t num_classes = 1000, Generator* gen = nullptr);
  std::string type_name() const override { return "ResNet18"; }

  // x (N, 3, H, W) normalised images → logits (N, num_classes).
  Tensor forward(const Tensor& x) override;
  // x → pooled features (N, 512): everything but fc. The feature extractor of Q1.
  Tensor features(const Tensor& x);

  std::shared_ptr<nn::Linear> fc() const { return fc_; }
  // Replaces fc with a fresh Linear(512, num_classes) (a new head for transfer). The fc module
  // object and its parameter handles stay; their data is replaced: build optimizers after this.
  void reset_fc(int64_t num_classes, Generator* gen = nullptr);
  // Every module but fc: what "freezing the feature extractor" freezes. Returned as the top-level
  // children conv1, bn1, layer1..layer4 (train/eval/set_requires_grad/to recurse into them).
  std::vector<nn::Module*> extractor_modules();
  TensorList extractor_parameters();
  int64_t num_classes() const { return fc_->weight().size(0); }

 private:
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::shared_ptr<nn::Sequential> layer1_, layer2_, layer3_, layer4_;
  std::shared_ptr<nn::Linear> fc_;
};

// What a weights file says about how its model was trained (safetensors __metadata__ keys
// "image_size", "mean", "std", "classes", "dataset"); ImageNet defaults when absent.
struct ImagePreprocessing {
  int64_t image_size = 224;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  std::vector<std::string> classes;  // empty: unknown
  std::string dataset = "imagenet";
  std::map<std::string, std::string> to_metadata() const;
  static ImagePreprocessing from_metadata(const std::map<std::string, std::string>& meta);
};

struct LoadedResNet18 {
  std::shared_ptr<ResNet18> model;
  ImagePreprocessing preprocessing;
};
// Loads a torchvision/timm-named ResNet18 safetensors file strictly (num_batches_tracked
// optional); the fc size comes from the file's fc.weight.
LoadedResNet18 load_resnet18(const std::string& path);
// Saves with torchvision names (num_batches_tracked included) and the preprocessing in
// __metadata__; atomic.
void save_resnet18(const std::string& path, const ResNet18& model, const ImagePreprocessing& prep);

}  // namespace ember::models
