// models/resnet18.cpp — see resnet18.h. torchvision.models.resnet18, module by module, with its
// initialisation (kaiming_normal_ fan_out/relu for convs, BatchNorm weight 1 bias 0, fc the
// default Linear init), and the safetensors load/save that binds weights by torchvision's names.
#include "models/resnet18.h"

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/io/safetensors.h"

namespace ember::models {

namespace {

// torchvision: nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"), i.e.
// N(0, 2 / fan_out) with fan_out = out_channels·kh·kw.
void kaiming_normal_fan_out(const nn::Conv2d& conv, Generator* gen) {
  NoGradGuard ng;
  Tensor w = conv.weight();  // a handle to the parameter itself
  double fan_out = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
  normal_(w, 0.0, std::sqrt(2.0 / fan_out), gen);
}

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  auto c = std::make_shared<nn::Conv2d>(in, out, 3, stride, 1, 1, /*bias=*/false, gen);
  kaiming_normal_fan_out(*c, gen);
  return c;
}

std::shared_ptr<nn::Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  auto c = std::make_shared<nn::Conv2d>(in, out, 1, stride, 0, 1, /*bias=*/false, gen);
  kaiming_normal_fan_out(*c, gen);
  return c;
}

// torchvision's _make_layer for BasicBlock (expansion 1): the first block may change stride and
// width (and then gets a downsample), the second keeps them.
std::shared_ptr<nn::Sequential> make_layer(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  auto layer = std::make_shared<nn::Sequential>();
  layer->push_back(std::make_shared<BasicBlock>(in, out, stride, gen));
  layer->push_back(std::make_shared<BasicBlock>(out, out, 1, gen));
  return layer;
}

// "[0.485,0.456,0.406]": each float in its shortest form that reads back to the same float
// (nlohmann would widen to double first and write 0.48500001430511475).
std::string rgb_json(const std::array<float, 3>& v) {
  std::string out = "[";
  for (size_t c = 0; c < 3; ++c) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof(buf), v[c]);
    out.append(c ? "," : "").append(buf, res.ptr);
  }
  return out + "]";
}

// Parses a metadata value that must be JSON of a given kind; errors name the key and the value.
nlohmann::json parse_metadata_json(const std::string& key, const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    EMBER_FAIL("ResNet18 metadata: \"", key, "\" must be JSON, got '", text, "': ", e.what());
  }
}

std::array<float, 3> parse_rgb(const std::string& key, const std::string& text) {
  nlohmann::json j = parse_metadata_json(key, text);
  EMBER_CHECK(j.is_array() && j.size() == 3, "ResNet18 metadata: \"", key,
              "\" must be a JSON array of 3 numbers (R, G, B), got '", text, "'");
  std::array<float, 3> out{};
  for (size_t c = 0; c < 3; ++c) {
    EMBER_CHECK(j[c].is_number(), "ResNet18 metadata: \"", key, "\" must hold numbers, got '", text, "'");
    out[c] = j[c].get<float>();
  }
  return out;
}

}  // namespace

// ---------------- BasicBlock ----------------

BasicBlock::BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, Generator* gen) {
  EMBER_CHECK(in_channels > 0 && out_channels > 0 && stride > 0, "BasicBlock: channels and stride must be ",
              "positive, got in=", in_channels, " out=", out_channels, " stride=", stride);
  // Registration order = torchvision's attribute order = state_dict order.
  conv1_ = register_module("conv1", conv3x3(in_channels, out_channels, stride, gen));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(out_channels));
  conv2_ = register_module("conv2", conv3x3(out_channels, out_channels, 1, gen));
  bn2_ = register_module("bn2", std::make_shared<nn::BatchNorm2d>(out_channels));
  if (stride != 1 || in_channels != out_channels) {
    downsample_ = register_module("downsample", std::make_shared<nn::Sequential>());
    downsample_->push_back(conv1x1(in_channels, out_channels, stride, gen));
    downsample_->push_back(std::make_shared<nn::BatchNorm2d>(out_channels));
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  Tensor identity = downsample_ ? downsample_->forward(x) : x;
  return relu(out + identity);
}

// ---------------- ResNet18 ----------------

ResNet18::ResNet18(int64_t num_classes, Generator* gen) {
  EMBER_CHECK(num_classes > 0, "ResNet18: num_classes must be positive, got ", num_classes);
  conv1_ = register_module("conv1", std::make_shared<nn::Conv2d>(3, 64, 7, 2, 3, 1, /*bias=*/false, gen));
  kaiming_normal_fan_out(*conv1_, gen);
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(64));
  layer1_ = register_module("layer1", make_layer(64, 64, 1, gen));
  layer2_ = register_module("layer2", make_layer(64, 128, 2, gen));
  layer3_ = register_module("layer3", make_layer(128, 256, 2, gen));
  layer4_ = register_module("layer4", make_layer(256, 512, 2, gen));
  fc_ = register_module("fc", std::make_shared<nn::Linear>(512, num_classes, true, gen));
}

Tensor ResNet18::features(const Tensor& x) {
  EMBER_CHECK(x.dim() == 4 && x.size(1) == 3, "ResNet18: input must be (N, 3, H, W) images, got ", x.shape());
  Tensor h = max_pool2d(relu(bn1_->forward(conv1_->forward(x))), 3, 2, 1);  // (N, 64, H/4, W/4)
  h = layer4_->forward(layer3_->forward(layer2_->forward(layer1_->forward(h))));  // (N, 512, H/32, W/32)
  return adaptive_avg_pool2d(h, 1).flatten(1);                                     // (N, 512)
}

Tensor ResNet18::forward(const Tensor& x) { return fc_->forward(features(x)); }

void ResNet18::reset_fc(int64_t num_classes, Generator* gen) {
  EMBER_CHECK(num_classes > 0, "ResNet18::reset_fc: num_classes must be positive, got ", num_classes);
  // nn::Module has no way to swap a registered child, so the registered Linear keeps its identity
  // and its two parameters take a fresh Linear's data (PyTorch's `param.data = new`, the same
  // move Module::to makes). Handles to fc's parameters see the new head; build optimizers after.
  nn::Linear fresh(512, num_classes, true, gen);
  NoGradGuard ng;
  auto adopt = [&](const Tensor& dst, const Tensor& src) {
    Tensor data = src.detach().to(dst.dtype()).to(dst.device()).contiguous();
    TensorImpl& d = *dst.impl();
    d.storage = data.storage();
    d.shape = data.shape();
    d.strides = data.strides();
    d.offset = data.offset();
    d.grad.reset();
    d.requires_grad = true;
  };
  adopt(fc_->weight(), fresh.weight());
  adopt(fc_->bias(), fresh.bias());
}

std::vector<nn::Module*> ResNet18::extractor_modules() {
  // The top-level children but fc (conv1, bn1, layer1..layer4): together they hold every other
  // module, and train()/eval()/set_requires_grad()/to() recurse into them.
  std::vector<nn::Module*> out;
  for (const auto& [name, child] : named_children())
    if (name != "fc") out.push_back(child.get());
  return out;
}

TensorList ResNet18::extractor_parameters() {
  TensorList out;
  for (const auto& [name, p] : named_parameters())
    if (name.rfind("fc.", 0) != 0) out.push_back(p);
  return out;
}

// ---------------- preprocessing metadata ----------------

std::map<std::string, std::string> ImagePreprocessing::to_metadata() const {
  std::map<std::string, std::string> m{{"image_size", std::to_string(image_size)},
                                       {"mean", rgb_json(mean)},
                                       {"std", rgb_json(std)},
                                       {"dataset", dataset}};
  if (!classes.empty()) m["classes"] = nlohmann::json(classes).dump();
  return m;
}

ImagePreprocessing ImagePreprocessing::from_metadata(const std::map<std::string, std::string>& meta) {
  ImagePreprocessing p;
  if (auto it = meta.find("image_size"); it != meta.end()) {
    nlohmann::json j = parse_metadata_json("image_size", it->second);
    EMBER_CHECK(j.is_number_integer() && j.get<int64_t>() > 0, "ResNet18 metadata: \"image_size\" must be a ",
                "positive integer, got '", it->second, "'");
    p.image_size = j.get<int64_t>();
  }
  if (auto it = meta.find("mean"); it != meta.end()) p.mean = parse_rgb("mean", it->second);
  if (auto it = meta.find("std"); it != meta.end()) {
    p.std = parse_rgb("std", it->second);
    for (float s : p.std)
      EMBER_CHECK(s > 0, "ResNet18 metadata: \"std\" must be positive, got '", it->second, "'");
  }
  if (auto it = meta.find("classes"); it != meta.end()) {
    nlohmann::json j = parse_metadata_json("classes", it->second);
    EMBER_CHECK(j.is_array(), "ResNet18 metadata: \"classes\" must be a JSON array of strings, got '",
                it->second.substr(0, 200), "'");
    for (const auto& c : j) {
      EMBER_CHECK(c.is_string(), "ResNet18 metadata: \"classes\" must hold strings, found ", c.dump());
      p.classes.push_back(c.get<std::string>());
    }
  }
  if (auto it = meta.find("dataset"); it != meta.end()) p.dataset = it->second;
  return p;
}

// ---------------- load / save ----------------

LoadedResNet18 load_resnet18(const std::string& path) {
  safetensors::File file = safetensors::load(path);
  EMBER_CHECK(file.contains("fc.weight"), "load_resnet18: '", path, "' has no tensor 'fc.weight', so it is not ",
              "a torchvision/timm-named ResNet18 (first names: ",
              [&] {
                std::ostringstream os;
                for (size_t i = 0; i < file.tensors.size() && i < 5; ++i) os << (i ? ", " : "") << file.tensors[i].first;
                return os.str();
              }(),
              ")");
  Tensor fc_w = file.get("fc.weight");
  EMBER_CHECK(fc_w.dim() == 2 && fc_w.size(1) == 512 && fc_w.size(0) > 0, "load_resnet18: '", path,
              "': fc.weight must be (num_classes, 512), got ", fc_w.shape());

  // Building the model initialises 11 M weights; a file far too small to be a ResNet18 is refused
  // before that (the strict load below names each missing or mis-shaped tensor of the others).
  constexpr int64_t kBackboneWeights = 11176512;  // torchvision's resnet18 outside fc (11,689,512 − 513,000)
  int64_t held = 0;
  for (const auto& [name, t] : file.tensors) held += t.numel();
  EMBER_CHECK(2 * (held - fc_w.numel()) >= kBackboneWeights, "load_resnet18: '", path, "' holds ", held - fc_w.numel(),
              " values outside fc.weight, less than half of the ", kBackboneWeights,
              " weights torchvision's resnet18 has there: not a ResNet18 (", file.tensors.size(), " tensors)");

  LoadedResNet18 out;
  out.model = std::make_shared<ResNet18>(fc_w.size(0));
  // The model takes the file's floating dtype (float32 normally; a float64 file stays float64),
  // so no value is silently rounded; a file mixing float dtypes fails below, naming the tensors.
  if (is_floating(fc_w.dtype()) && fc_w.dtype() != DType::F32) out.model->to(fc_w.dtype());

  // num_batches_tracked is optional (timm files and the legacy torchvision pickles lack it): a
  // missing one keeps the model's 0. Everything else goes through the strict load, whose one
  // error lists every missing, unexpected, wrong-shape and wrong-dtype tensor.
  std::set<std::string> present;
  for (const auto& [name, t] : file.tensors) present.insert(name);
  nn::NamedTensors state = file.tensors;
  for (const auto& [name, t] : out.model->state_dict()) {
    const std::string suffix = "num_batches_tracked";
    bool is_counter = name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (is_counter && !present.count(name)) {
      Tensor keep = empty(t.shape(), Options(t.dtype()));
      copy_(keep, t);
      state.emplace_back(name, keep);
    }
  }
  try {
    out.model->load_state_dict(state, /*strict=*/true);
  } catch (const Error& e) {
    EMBER_FAIL("load_resnet18: '", path, "' does not match torchvision's resnet18 (num_classes ", fc_w.size(0),
               "): ", e.what());
  }
  out.preprocessing = ImagePreprocessing::from_metadata(file.metadata);
  return out;
}

void save_resnet18(const std::string& path, const ResNet18& model, const ImagePreprocessing& prep) {
  std::map<std::string, std::string> meta = prep.to_metadata();
  meta["model"] = "resnet18";
  meta["num_classes"] = std::to_string(model.num_classes());
  safetensors::save(path, model.state_dict(), meta);
}

}  // namespace ember::models
