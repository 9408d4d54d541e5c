// apps/classify.cpp — classify images with a ResNet18 weights file (models/resnet18.h).
//
//   classify --weights resnet18_cifar10.safetensors cat.png ship.jpg
//   classify --weights imagenet.safetensors --labels imagenet_classes.txt --center-crop --json top5.json dog.jpg
//
// Each image (PNG, JPEG, BMP, TGA, PPM/PGM, … anything stb_image reads) becomes RGB floats in
// [0, 1], shape (1, 3, H, W), and is resized to the weights' image_size (safetensors metadata;
// 224 when absent) in one of two ways:
//   default        the whole image resized to image_size × image_size (aspect ratio not kept),
//                  as a CIFAR-style model sees its 32×32 inputs;
//   --center-crop  ImageNet evaluation practice: shorter side to round(image_size·256/224),
//                  then the central image_size × image_size crop.
// Resizing is ember::interpolate_bilinear (align_corners=False). When shrinking by 2× or more it
// is preceded by an area average (adaptive_avg_pool2d) to within 2× of the target, standing in
// for the antialiasing of PIL / torchvision's Resize, so large photos do not alias. Then the
// metadata's mean/std normalise each channel and the model runs in eval mode without autograd.
//
// Class names: the metadata's "classes" when the file has them; else --labels FILE (one name per
// line, index order); else the 10 CIFAR-10 names when num_classes is 10 and the metadata says
// dataset "cifar10"; else "class N". The 1000 ImageNet names are not embedded: no Debian package
// ships them as a data file (python3-torchvision has them only inside a Python module), but
//   /usr/bin/python3 -c "from torchvision.models._meta import _IMAGENET_CATEGORIES as c; print('\n'.join(c))" \
//       > imagenet_classes.txt
// writes a file for --labels.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "apps/common/app_util.h"
#include "apps/common/image_io.h"
#include "models/resnet18.h"

using namespace ember;
using nlohmann::json;

namespace {

const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

struct Flags {
  std::string weights, json_path, labels;
  std::vector<std::string> images;
  bool center_crop = false;
  int64_t top = 5;
};

using app::Image;
using app::read_image;

// Bilinear resize to (out_h, out_w); an area average first when shrinking by 2× or more.
Tensor resize(const Tensor& x, int64_t out_h, int64_t out_w) {
  const int64_t H = x.size(2), W = x.size(3);
  const int64_t f = std::min(H / out_h, W / out_w);
  // Averaging f×f areas leaves a shrink of less than 2× for the bilinear step, which then
  // reads every source pixel with some weight.
  Tensor y = f >= 2 ? adaptive_avg_pool2d(x, Pair2(H / f, W / f)) : x;
  if (y.size(2) == out_h && y.size(3) == out_w) return y;
  return interpolate_bilinear(y, Pair2(out_h, out_w));
}

Tensor preprocess(const Image& img, const models::ImagePreprocessing& prep, bool center_crop) {
  const int64_t S = prep.image_size;
  Tensor x;
  if (!center_crop) {
    x = resize(img.pixels, S, S);
  } else {
    const int64_t short_side = static_cast<int64_t>(std::lround(static_cast<double>(S) * 256.0 / 224.0));
    int64_t h = short_side, w = short_side;  // torchvision Resize(int): the shorter side, aspect kept
    if (img.height < img.width) w = std::max<int64_t>(S, img.width * short_side / img.height);
    else h = std::max<int64_t>(S, img.height * short_side / img.width);
    x = resize(img.pixels, h, w);
    x = x.narrow(2, (h - S) / 2, S).narrow(3, (w - S) / 2, S).contiguous();  // central S×S
  }
  Tensor mean = from_vector(std::vector<float>(prep.mean.begin(), prep.mean.end()), {1, 3, 1, 1});
  Tensor std = from_vector(std::vector<float>(prep.std.begin(), prep.std.end()), {1, 3, 1, 1});
  return (x - mean) / std;
}

std::vector<std::string> read_labels(const std::string& path, int64_t num_classes) {
  std::ifstream f(path);
  EMBER_CHECK(f.good(), "--labels: cannot open '", path, "'");
  std::vector<std::string> names;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  EMBER_CHECK(static_cast<int64_t>(names.size()) == num_classes, "--labels: '", path, "' has ", names.size(),
              " names but the model has ", num_classes, " classes");
  return names;
}

// Names for the classes, and where they came from.
std::pair<std::vector<std::string>, std::string> class_names(const models::LoadedResNet18& loaded, const Flags& o) {
  const int64_t n = loaded.model->num_classes();
  const auto& prep = loaded.preprocessing;
  if (!prep.classes.empty()) {
    EMBER_CHECK(static_cast<int64_t>(prep.classes.size()) == n, "weights '", o.weights, "': metadata lists ",
                prep.classes.size(), " class names but fc has ", n, " outputs");
    return {prep.classes, "weights metadata"};
  }
  if (!o.labels.empty()) return {read_labels(o.labels, n), o.labels};
  if (n == 10 && prep.dataset == "cifar10") return {kCifar10Classes, "CIFAR-10"};
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) names.push_back("class " + std::to_string(i));
  return {names, "none (indices; pass --labels FILE for names)"};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember classify: top-5 classes of images under a ResNet18 weights file (safetensors)"};
  Flags o;
  app.add_option("--weights", o.weights, "ResNet18 safetensors file (torchvision/timm names; metadata: "
                                         "image_size, mean, std, classes, dataset)")
      ->required();
  app.add_option("images", o.images, "image files (PNG, JPEG, BMP, TGA, PPM, ...)")->required();
  app.add_option("--labels", o.labels, "class names, one per line in index order (when the weights carry none)");
  app.add_flag("--center-crop", o.center_crop,
               "ImageNet practice: shorter side to image_size*256/224, then the central crop "
               "(default: resize the whole image to image_size x image_size)");
  app.add_option("--top", o.top, "how many classes to print")->check(CLI::PositiveNumber);
  app.add_option("--json", o.json_path, "also write the results to this JSON file");
  CLI11_PARSE(app, argc, argv);

  try {
    EMBER_CHECK(std::filesystem::exists(o.weights), "weights file '", o.weights, "' does not exist");
    models::LoadedResNet18 loaded = models::load_resnet18(o.weights);
    const auto& prep = loaded.preprocessing;
    auto& model = *loaded.model;
    model.to(DType::F32);
    model.eval();
    auto [names, names_from] = class_names(loaded, o);
    const int64_t k = std::min<int64_t>(o.top, model.num_classes());
    std::printf("weights %s: %lld classes, dataset %s, input %lldx%lld (%s), class names: %s\n", o.weights.c_str(),
                static_cast<long long>(model.num_classes()), prep.dataset.c_str(),
                static_cast<long long>(prep.image_size), static_cast<long long>(prep.image_size),
                o.center_crop ? "resize + center crop" : "resized whole", names_from.c_str());

    json results = json::array();
    int failures = 0;
    for (const std::string& path : o.images) {
      json entry = {{"path", path}};
      try {
        Image img = read_image(path);
        NoGradGuard ng;
        Tensor probs = softmax(model.forward(preprocess(img, prep, o.center_crop)), 1);  // (1, C)
        std::vector<float> p = probs.to_vector<float>();
        std::vector<int64_t> order(p.size());
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [&](int64_t a, int64_t b) { return p[a] > p[b]; });
        std::printf("\n%s (%lldx%lld)\n", path.c_str(), static_cast<long long>(img.width),
                    static_cast<long long>(img.height));
        json top = json::array();
        for (int64_t r = 0; r < k; ++r) {
          int64_t c = order[static_cast<size_t>(r)];
          std::printf("  %lld. %7.4f  %s (%lld)\n", static_cast<long long>(r + 1), p[c], names[c].c_str(),
                      static_cast<long long>(c));
          top.push_back({{"rank", r + 1}, {"index", c}, {"name", names[c]}, {"probability", p[c]}});
        }
        entry["width"] = img.width;
        entry["height"] = img.height;
        entry["top"] = top;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "classify: error: %s\n", e.what());
        entry["error"] = e.what();
        ++failures;
      }
      results.push_back(entry);
    }
    if (!o.json_path.empty()) {
      app::write_json_atomic(o.json_path, {{"weights", o.weights},
                                           {"num_classes", model.num_classes()},
                                           {"dataset", prep.dataset},
                                           {"image_size", prep.image_size},
                                           {"resize", o.center_crop ? "center_crop" : "whole"},
                                           {"class_names", names_from},
                                           {"images", results},
                                           {"date", app::utc_timestamp()}});
      std::printf("\nresults written to %s\n", o.json_path.c_str());
    }
    if (failures > 0) {
      std::fprintf(stderr, "classify: %d of %zu images could not be classified\n", failures, o.images.size());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "classify: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
