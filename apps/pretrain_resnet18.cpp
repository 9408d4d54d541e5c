// apps/pretrain_resnet18.cpp — trains a ResNet18 (10 classes) on CIFAR-10 and saves it as
// torchvision-named safetensors with its preprocessing in __metadata__ (image_size 32, the
// CIFAR-10 mean/std, dataset "cifar10", the class names of batches.meta.txt), ready for
// `q1_mnist --weights FILE` and `classify`.
//
// Recipe (apps/common/q1_pretrain.h): random crop (pad 4) + horizontal flip, CIFAR mean/std;
// SGD momentum 0.9, weight decay 5e-4, linear warm-up then cosine decay per step.
//
//   pretrain_resnet18 --data ../shared/data --epochs 30 --out checkpoints/q1/resnet18_cifar10.safetensors
//   pretrain_resnet18 --data ../shared/data --epochs 2 --train-images 10000     (a few minutes on 2 cores)
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "apps/common/app_util.h"
#include "apps/common/q1_pretrain.h"

using namespace ember;

int main(int argc, char** argv) {
  CLI::App app{"ember: pretrain a ResNet18 on CIFAR-10 (the extractor Q1 transfers to MNIST)"};
  q1::PretrainConfig cfg;
  std::string data, out = "checkpoints/q1/resnet18_cifar10.safetensors", json_path = "results/pretrain_resnet18.json";
  app.add_option("--data", data, "data folder holding cifar10/ (default: $EMBER_DATA)");
  app.add_option("--epochs", cfg.epochs, "training epochs");
  app.add_option("--train-images", cfg.train_images, "class-balanced training subset size (0: all 50,000)");
  app.add_option("--test-images", cfg.test_images, "test images to evaluate (0: all 10,000)");
  app.add_option("--batch-size", cfg.batch_size, "batch size");
  app.add_option("--lr", cfg.lr, "peak SGD learning rate (after warm-up)");
  app.add_option("--weight-decay", cfg.weight_decay, "SGD weight decay (L2)");
  app.add_option("--seed", cfg.seed, "random seed (subset, initialisation, shuffling, augmentation)");
  app.add_option("--device", cfg.device, "cpu | cuda | cuda:N");
  app.add_option("--out", out, "where to save the weights (safetensors)");
  app.add_option("--json", json_path, "where to write the results JSON");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // results reach a log file line by line, as they happen
  try {
    std::string data_dir = app::resolve_data_dir(data);
    q1::PretrainResult r = q1::pretrain_resnet18_cifar10(q1::find_cifar10_dir(data_dir), cfg);
    std::filesystem::path parent = std::filesystem::path(out).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);  // save_resnet18 does not
    models::save_resnet18(out, *r.model, r.preprocessing);
    nlohmann::json j = r.to_json(cfg);
    j["saved_to"] = out;
    j["device"] = cfg.device;
    j["date"] = app::utc_timestamp();
    app::write_json_atomic(json_path, j);
    std::printf("saved %s (image_size 32, CIFAR-10 mean/std, %zu classes); results in %s\n", out.c_str(),
                r.preprocessing.classes.size(), json_path.c_str());
    std::printf("CIFAR-10 test accuracy %.4f on %lld images after %lld epochs on %lld images (%.0f s)\n",
                r.test_accuracy, static_cast<long long>(r.test_images), static_cast<long long>(cfg.epochs),
                static_cast<long long>(r.train_images), r.seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pretrain_resnet18: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
