// tests/test_resnet18.cpp — models/resnet18: torchvision parity, tensor names, and the
// safetensors load/save (strictness, optional num_batches_tracked, metadata).
//
// Parity: tests/fixtures/resnet18.json, written by scripts/fixtures/resnet18.py, holds torchvision's
// state_dict list and its results for a model whose every tensor (and the inputs) is filled from a
// counter hash (fill_by_formula below, bit-identical on both sides) — so no weight file is checked in.
// Tolerances, per tensor, relative to its largest magnitude: |ember − torch| ≤ rtol·max|torch|.
//   float64: rtol 1e-9. Both sides compute the same sums in double and differ only by rounding
//            order; measured 1e-15 (eval) and 1.3e-14 (training mode).
//   float32: rtol 1e-4 (ember in float32 against torch in float64): float32's 6e-8 epsilon over
//            sums of up to 4608 terms per conv and 20 layers; measured 1e-6 (eval) and 9e-6
//            (training mode). A wrong layer (a missing relu, a swapped stride) is off by O(1).
// Names: the state_dict must equal torchvision's names, shapes and order exactly; and the 102
// tensors of the real ImageNet file's manifest ($EMBER_DATA/resnet18/torchvision_resnet18_tensors.tsv,
// in its pickle's order, so compared as a set) must all bind by name and shape.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"
#include "models/resnet18.h"
#include "tests/fixtures.h"

using namespace ember;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr double kTorchRtolF64 = 1e-9;
constexpr double kTorchRtolF32 = 1e-4;

const json& fixture() { return test::fixture("resnet18.json"); }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// scripts/fixtures/resnet18.py's counter hash: splitmix64's finaliser of i + k·golden + 1, top
// 53 bits as a fraction in [0, 1). Exact integer arithmetic: bit-identical to the numpy side.
double hash_uniform(uint64_t k, uint64_t i) {
  uint64_t z = i + k * 0x9E3779B97F4A7C15ull + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

// s = 2u − 1 over a whole tensor (float64).
std::vector<double> signed_values(uint64_t k, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = 2.0 * hash_uniform(k, static_cast<uint64_t>(i)) - 1.0;
  return v;
}

// The fill of scripts/fixtures/resnet18.py, over ember's own state_dict order (the first test
// asserts it is torchvision's).
void fill_by_formula(const models::ResNet18& model) {
  int64_t k = 0;
  for (auto [name, t] : model.state_dict()) {
    if (ends_with(name, "num_batches_tracked")) {
      fill_(t, static_cast<double>(k++));
      continue;
    }
    std::vector<double> v = signed_values(static_cast<uint64_t>(k), t.numel());
    for (double& s : v) {
      if (ends_with(name, "running_var")) s = 0.5 + 0.25 * (1 + s);
      else if (ends_with(name, "running_mean")) s = 0.1 * s;
      else if (t.dim() >= 2) s = s * std::sqrt(6.0 / static_cast<double>(t.numel() / t.size(0)));
      else if (ends_with(name, ".weight")) s = 1 + 0.25 * s;
      else s = 0.1 * s;
    }
    copy_(t, from_vector(v, t.shape()));
    ++k;
  }
}

// scale·s over `shape` with hash stream k, in `dtype`.
Tensor hashed(const Shape& shape, uint64_t k, double scale, DType dtype) {
  std::vector<double> v = signed_values(k, shape_numel(shape));
  for (double& x : v) x *= scale;
  return from_vector(v, shape).to(dtype);
}

Tensor tensor_of(const json& j) { return test::fixture_tensor(j); }

// |ours − ref| ≤ rtol·max|ref| elementwise; reports the worst element.
void expect_close(const Tensor& ours, const json& ref_json, double rtol, const std::string& what) {
  INFO(what);
  Tensor ref = tensor_of(ref_json);
  REQUIRE(ours.defined());
  REQUIRE(ours.shape() == ref.shape());
  std::vector<double> a = ours.to(DType::F64).to_vector<double>(), b = ref.to_vector<double>();
  double scale = 0;
  for (double x : b) scale = std::max(scale, std::fabs(x));
  REQUIRE(scale > 0);
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double err = std::fabs(a[i] - b[i]) / scale;
    if (!(err <= worst)) worst = err, worst_at = i;  // NaN lands here too
  }
  INFO("worst relative error ", worst, " at element ", worst_at, " (ember ", a[worst_at], ", torch ", b[worst_at],
       ", scale ", scale, ")");
  CHECK(worst <= rtol);
}

std::shared_ptr<models::ResNet18> formula_model(DType dtype) {
  auto model = std::make_shared<models::ResNet18>(fixture().at("num_classes").get<int64_t>());
  model->to(dtype);
  fill_by_formula(*model);
  return model;
}

// Eval-mode logits, features and d sum(logits ⊙ W) / dx, against torchvision.
void check_eval_parity(DType dtype, double rtol) {
  const json& ref = fixture().at("eval");
  auto model = formula_model(dtype);
  model->eval();
  Shape x_shape = fixture().at("x_shape").get<Shape>();
  Tensor x = hashed(x_shape, 1000, 1.5, dtype);
  x.requires_grad_(true);
  Tensor logits = model->forward(x);
  Tensor w = hashed(logits.shape(), 1001, 1.0, dtype);
  sum(logits * w).backward();
  expect_close(logits, ref.at("logits"), rtol, "eval logits");
  expect_close(x.grad(), ref.at("input_grad"), rtol, "input gradient");
  NoGradGuard ng;
  expect_close(model->features(x), ref.at("features"), rtol, "features (fc's input)");
}

// One training-mode forward (batch statistics, a batch of 4), then bn1's updated running statistics.
void check_train_parity(DType dtype, double rtol) {
  const json& ref = fixture().at("train");
  auto model = formula_model(dtype);
  model->train();
  NoGradGuard ng;
  Tensor x = hashed(fixture().at("x_train_shape").get<Shape>(), 1002, 1.5, dtype);
  expect_close(model->forward(x), ref.at("logits"), rtol, "train-mode logits");
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : model->state_dict()) state[name] = t;
  expect_close(state.at("bn1.running_mean"), ref.at("bn1.running_mean"), rtol, "bn1.running_mean after");
  expect_close(state.at("bn1.running_var"), ref.at("bn1.running_var"), rtol, "bn1.running_var after");
  CHECK(state.at("bn1.num_batches_tracked").item() == ref.at("bn1.num_batches_tracked").get<double>());
}

std::string temp_path(const std::string& stem) {
  return (fs::temp_directory_path() / (stem + "_" + std::to_string(::getpid()) + ".safetensors")).string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  size_t bytes = static_cast<size_t>(ca.numel()) * dtype_size(ca.dtype());
  return std::memcmp(ca.raw_data(), cb.raw_data(), bytes) == 0;
}

}  // namespace

TEST_CASE("resnet18: state_dict names, shapes and order equal torchvision's") {
  models::ResNet18 model(fixture().at("num_classes").get<int64_t>());
  nn::NamedTensors mine = model.state_dict();
  const json& theirs = fixture().at("state_dict");
  REQUIRE(mine.size() == theirs.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    INFO("entry ", i, ": ember '", mine[i].first, "', torchvision '", theirs[i].at("name").get<std::string>(), "'");
    CHECK(mine[i].first == theirs[i].at("name").get<std::string>());
    CHECK(mine[i].second.shape() == theirs[i].at("shape").get<Shape>());
    bool counter = theirs[i].at("dtype") == "int64";
    CHECK(mine[i].second.dtype() == (counter ? DType::I64 : DType::F32));
  }
  CHECK(model.num_parameters() == 11181642);  // torchvision resnet18(num_classes=10)
}

TEST_CASE("resnet18: eval forward, features and input gradient match torchvision (float64, rtol 1e-9)") {
  check_eval_parity(DType::F64, kTorchRtolF64);
}

TEST_CASE("resnet18: eval forward, features and input gradient match torchvision (float32, rtol 1e-4)") {
  check_eval_parity(DType::F32, kTorchRtolF32);
}

TEST_CASE("resnet18: training-mode forward and running statistics match torchvision") {
  SUBCASE("float64, rtol 1e-9") { check_train_parity(DType::F64, kTorchRtolF64); }
  SUBCASE("float32, rtol 1e-4") { check_train_parity(DType::F32, kTorchRtolF32); }
}

TEST_CASE("resnet18: the 102 tensors of torchvision's ImageNet file bind by name and shape") {
  const char* data = std::getenv("EMBER_DATA");
  std::string path = data ? std::string(data) + "/resnet18/torchvision_resnet18_tensors.tsv" : "";
  if (!data || !fs::exists(path)) {
    MESSAGE("SKIPPED: ", (data ? path + " is missing" : std::string("EMBER_DATA is unset")),
            " (the manifest of torchvision's resnet18-f37072fd.pth)");
    return;
  }
  std::ifstream f(path);
  REQUIRE(f.good());
  std::map<std::string, Shape> manifest;  // the file's own (pickle) order differs from state_dict order
  std::string line;
  std::getline(f, line);  // header: name dtype shape
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    std::istringstream is(line);
    std::string name, dtype, shape_text;
    REQUIRE_MESSAGE(static_cast<bool>(is >> name >> dtype >> shape_text), "bad manifest line: ", line);
    REQUIRE(shape_text.size() >= 2);
    Shape shape;
    std::istringstream dims(shape_text.substr(1, shape_text.size() - 2));
    for (std::string d; std::getline(dims, d, ',');) shape.push_back(std::stoll(d));
    manifest[name] = shape;
  }
  REQUIRE(manifest.size() == 102);
  models::ResNet18 model(1000);
  std::map<std::string, Shape> mine;
  for (const auto& [name, t] : model.state_dict())
    if (!ends_with(name, "num_batches_tracked")) mine[name] = t.shape();
  CHECK(mine.size() == 102);
  for (const auto& [name, shape] : manifest) {
    INFO("manifest tensor ", name);
    REQUIRE(mine.count(name) == 1);
    CHECK(mine.at(name) == shape);
  }
}

TEST_CASE("resnet18: save_resnet18 then load_resnet18 keeps weights bit-identical and the metadata") {
  models::ResNet18 model(10);
  {  // make the buffers non-default so that they are really carried
    model.train();
    NoGradGuard ng;
    model.forward(randn({2, 3, 32, 32}));
  }
  models::ImagePreprocessing prep;
  prep.image_size = 32;
  prep.mean = {0.4914f, 0.4822f, 0.4465f};
  prep.std = {0.2470f, 0.2435f, 0.2616f};
  prep.dataset = "cifar10";
  prep.classes = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  const std::string path = temp_path("ember_resnet18_roundtrip");
  models::save_resnet18(path, model, prep);
  models::LoadedResNet18 loaded = models::load_resnet18(path);
  fs::remove(path);

  REQUIRE(loaded.model->num_classes() == 10);
  nn::NamedTensors a = model.state_dict(), b = loaded.model->state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(same_bits(a[i].second, b[i].second));
  }
  CHECK(loaded.preprocessing.image_size == 32);
  CHECK(loaded.preprocessing.mean == prep.mean);
  CHECK(loaded.preprocessing.std == prep.std);
  CHECK(loaded.preprocessing.dataset == "cifar10");
  CHECK(loaded.preprocessing.classes == prep.classes);

  // And the same network: identical logits in eval mode.
  model.eval();
  loaded.model->eval();
  NoGradGuard ng;
  Tensor x = randn({1, 3, 32, 32});
  CHECK(same_bits(model.forward(x), loaded.model->forward(x)));
}

TEST_CASE("resnet18: load_resnet18 is strict and names every problem") {
  models::ResNet18 model(10);
  nn::NamedTensors state;
  for (const auto& [name, t] : model.state_dict()) {
    if (name == "layer2.0.downsample.1.running_var") continue;               // missing
    if (name == "layer3.1.conv2.weight") state.emplace_back(name, zeros({256, 256, 1, 3}));  // wrong shape
    else state.emplace_back(name, t);
  }
  state.emplace_back("head.extra.weight", zeros({3}));  // unexpected
  const std::string path = temp_path("ember_resnet18_bad");
  safetensors::save(path, state);
  std::string err = error_of([&] { models::load_resnet18(path); });
  fs::remove(path);
  INFO(err);
  CHECK(err.find(path) != std::string::npos);
  CHECK(err.find("missing key 'layer2.0.downsample.1.running_var'") != std::string::npos);
  CHECK(err.find("unexpected key 'head.extra.weight'") != std::string::npos);
  CHECK(err.find("shape mismatch for 'layer3.1.conv2.weight'") != std::string::npos);
  CHECK(err.find("[256, 256, 1, 3]") != std::string::npos);

  CHECK(error_of([] { models::load_resnet18("/nonexistent/resnet18.safetensors"); })
            .find("/nonexistent/resnet18.safetensors") != std::string::npos);
  const std::string not_resnet = temp_path("ember_resnet18_notresnet");
  safetensors::save(not_resnet, {{"weight", zeros({2, 2})}});
  std::string err2 = error_of([&] { models::load_resnet18(not_resnet); });
  fs::remove(not_resnet);
  CHECK(err2.find("no tensor 'fc.weight'") != std::string::npos);
  // A few tensors with a valid fc (fuzz_checkpoint: each such file built and initialised a whole
  // ResNet18 first, 10 s under ASan): refused from the file's size alone.
  const std::string tiny = temp_path("ember_resnet18_tiny");
  safetensors::save(tiny, {{"conv1.weight", zeros({64, 3, 7, 7})}, {"fc.weight", zeros({2, 512})}});
  std::string err3 = error_of([&] { models::load_resnet18(tiny); });
  fs::remove(tiny);
  CHECK(err3.find("holds 9408 values outside fc.weight, less than half of the 11176512") != std::string::npos);
}

TEST_CASE("resnet18: a file without num_batches_tracked (timm) loads; num_classes comes from fc.weight") {
  models::ResNet18 model(7);
  nn::NamedTensors state;
  for (const auto& [name, t] : model.state_dict())
    if (!ends_with(name, "num_batches_tracked")) state.emplace_back(name, t);
  REQUIRE(state.size() == 102);
  const std::string path = temp_path("ember_resnet18_timm");
  safetensors::save(path, state);  // no metadata either: ImageNet defaults
  models::LoadedResNet18 loaded = models::load_resnet18(path);
  fs::remove(path);
  CHECK(loaded.model->num_classes() == 7);
  std::map<std::string, Tensor> got;
  for (const auto& [name, t] : loaded.model->state_dict()) got[name] = t;
  for (const auto& [name, t] : state) CHECK(same_bits(got.at(name), t));
  CHECK(got.at("layer4.1.bn2.num_batches_tracked").item() == 0);
  CHECK(loaded.preprocessing.image_size == 224);
  CHECK(loaded.preprocessing.dataset == "imagenet");
  CHECK(loaded.preprocessing.classes.empty());
}

TEST_CASE("resnet18: preprocessing metadata rejects malformed values") {
  using models::ImagePreprocessing;
  CHECK(error_of([] { ImagePreprocessing::from_metadata({{"mean", "[0.5, 0.5]"}}); }).find("\"mean\"") !=
        std::string::npos);
  CHECK(error_of([] { ImagePreprocessing::from_metadata({{"std", "[0.5, 0, 0.5]"}}); }).find("positive") !=
        std::string::npos);
  CHECK(error_of([] { ImagePreprocessing::from_metadata({{"image_size", "big"}}); }).find("\"image_size\"") !=
        std::string::npos);
  CHECK(error_of([] { ImagePreprocessing::from_metadata({{"classes", "[1, 2]"}}); }).find("strings") !=
        std::string::npos);
  ImagePreprocessing p = ImagePreprocessing::from_metadata({{"image_size", "64"}, {"dataset", "stl10"}});
  CHECK(p.image_size == 64);
  CHECK(p.dataset == "stl10");
  CHECK(p.mean[0] == doctest::Approx(0.485));  // the ImageNet default stays
}

TEST_CASE("resnet18: extractor_parameters is everything but fc; reset_fc gives a fresh head") {
  models::ResNet18 model(1000);
  TensorList extractor = model.extractor_parameters();
  CHECK(extractor.size() == model.parameters().size() - 2);
  int64_t n = 0;
  for (const Tensor& p : extractor) n += p.numel();
  CHECK(n == 11689512 - 1000 * 512 - 1000);  // torchvision resnet18's 11,689,512 minus fc
  for (nn::Module* m : model.extractor_modules()) m->set_requires_grad(false);
  for (const auto& [name, p] : model.named_parameters()) CHECK(p.requires_grad() == (name.rfind("fc.", 0) == 0));

  model.reset_fc(5);
  CHECK(model.num_classes() == 5);
  CHECK(model.fc()->bias().shape() == Shape{5});
  CHECK(model.fc()->weight().requires_grad());
  model.eval();
  Tensor logits = model.forward(randn({2, 3, 32, 32}));
  CHECK(logits.shape() == Shape{2, 5});
  sum(logits).backward();
  CHECK(model.fc()->weight().grad().shape() == Shape{5, 512});
  CHECK_FALSE(extractor[0].grad().defined());  // frozen
}
