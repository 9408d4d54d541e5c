// tests/test_nn.cpp — nn::Module and the layers: PyTorch's parameter/buffer names, shapes and
// order; load_state_dict's error reporting; train/eval and dtype recursion; the frozen
// feature-extractor invariant; float64 gradchecks through whole modules; and an LSTM forward
// against torch.nn.LSTM.
//
// The module gradchecks use the module's own parameters as gradcheck inputs (after
// .to(DType::F64)), so they check the layer's wiring of the ops, not only the ops.
#include <cmath>
#include <cstring>
#include <doctest/doctest.h>

#include "engine/nn/layers.h"
#include "engine/optim/optim.h"
#include "tests/gradcheck.h"

using namespace ember;
using namespace ember::test;

namespace {

std::vector<std::string> keys(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

Shape shape_of(const nn::NamedTensors& named, const std::string& key) {
  for (const auto& [name, t] : named)
    if (name == key) return t.shape();
  FAIL("no entry named ", key);
  return {};
}

// Overwrites a contiguous float64 tensor in place with f(flat index).
template <class F>
void set_values(Tensor t, F f) {
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = f(i);
}

// Overwrites t's values with a gradcheck-style random float64 tensor of the same shape.
void randomize(Tensor t, uint64_t seed, double lo = -1, double hi = 1) {
  Tensor r = rnd(t.shape(), seed, lo, hi, false);
  copy_(t, r);
}

// A ResNet-like block, to check nested names ("layer1.0.conv1.weight").
class Block : public nn::Module {
 public:
  Block() {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(2, 2, 3, 1, 1, 1, false));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(2));
  }
  std::string type_name() const override { return "Block"; }
  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
};

class TinyNet : public nn::Module {
 public:
  TinyNet() {
    fc0 = register_module("fc0", std::make_shared<nn::Linear>(3, 3));
    layer1 = register_module("layer1", std::make_shared<nn::ModuleList>());
    layer1->push_back(std::make_shared<Block>());
    scale = register_parameter("scale", ones({1}));  // registered after a child: still listed first
  }
  std::shared_ptr<nn::Linear> fc0;
  std::shared_ptr<nn::ModuleList> layer1;
  Tensor scale;
};

}  // namespace

// ---------------- names and shapes ----------------

TEST_CASE("nn: Linear parameters, names, shapes and init bound") {
  nn::Linear lin(3, 4);
  auto named = lin.named_parameters();
  CHECK(keys(named) == std::vector<std::string>{"weight", "bias"});
  CHECK(shape_of(named, "weight") == Shape{4, 3});
  CHECK(shape_of(named, "bias") == Shape{4});
  CHECK(lin.num_parameters() == 16);
  for (const auto& [name, t] : named) {
    CHECK(t.requires_grad());
    CHECK(t.is_leaf());
    CHECK(t.dtype() == DType::F32);
    for (float v : t.to_vector<float>()) CHECK(std::fabs(v) <= 1.0 / std::sqrt(3.0));
  }
  nn::Linear no_bias(3, 4, false);
  CHECK(keys(no_bias.named_parameters()) == std::vector<std::string>{"weight"});
  CHECK_FALSE(no_bias.bias().defined());
}

TEST_CASE("nn: init is reproducible from a Generator") {
  Generator g1(7), g2(7);
  nn::Linear a(5, 2, true, &g1), b(5, 2, true, &g2);
  CHECK(a.weight().to_vector<float>() == b.weight().to_vector<float>());
  CHECK(a.bias().to_vector<float>() == b.bias().to_vector<float>());
}

TEST_CASE("nn: Conv2d parameter shapes") {
  nn::Conv2d conv(3, 8, {3, 5});
  auto named = conv.named_parameters();
  CHECK(keys(named) == std::vector<std::string>{"weight", "bias"});
  CHECK(shape_of(named, "weight") == Shape{8, 3, 3, 5});
  CHECK(shape_of(named, "bias") == Shape{8});
  for (float v : conv.weight().to_vector<float>()) CHECK(std::fabs(v) <= 1.0 / std::sqrt(45.0));
}

TEST_CASE("nn: BatchNorm2d parameters and buffers as PyTorch names them") {
  nn::BatchNorm2d bn(5);
  CHECK(keys(bn.named_parameters()) == std::vector<std::string>{"weight", "bias"});
  CHECK(keys(bn.named_buffers()) == std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
  auto sd = bn.state_dict();
  CHECK(keys(sd) == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(bn.weight().to_vector<float>() == std::vector<float>(5, 1.0f));
  CHECK(bn.bias().to_vector<float>() == std::vector<float>(5, 0.0f));
  CHECK(bn.running_var().to_vector<float>() == std::vector<float>(5, 1.0f));
  CHECK(bn.num_batches_tracked().dtype() == DType::I64);
  CHECK(bn.num_batches_tracked().shape() == Shape{});
  CHECK_FALSE(bn.running_mean().requires_grad());
}

TEST_CASE("nn: LayerNorm and Embedding parameters") {
  nn::LayerNorm ln(6);
  CHECK(keys(ln.named_parameters()) == std::vector<std::string>{"weight", "bias"});
  CHECK(ln.weight().shape() == Shape{6});
  nn::LayerNorm ln2(Shape{2, 3});
  CHECK(ln2.weight().shape() == Shape{2, 3});

  nn::Embedding emb(10, 4, 2);
  CHECK(keys(emb.named_parameters()) == std::vector<std::string>{"weight"});
  CHECK(emb.weight().shape() == Shape{10, 4});
  std::vector<float> w = emb.weight().to_vector<float>();
  for (int j = 0; j < 4; ++j) CHECK(w[2 * 4 + j] == 0.0f);
  CHECK(w[0] != 0.0f);
}

TEST_CASE("nn: LSTM state_dict keys, order and shapes are torch.nn.LSTM's") {
  nn::LSTM lstm(3, 5, 2);
  auto sd = lstm.state_dict();
  CHECK(keys(sd) == std::vector<std::string>{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                             "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"});
  CHECK(shape_of(sd, "weight_ih_l0") == Shape{20, 3});
  CHECK(shape_of(sd, "weight_hh_l0") == Shape{20, 5});
  CHECK(shape_of(sd, "bias_ih_l0") == Shape{20});
  CHECK(shape_of(sd, "bias_hh_l0") == Shape{20});
  CHECK(shape_of(sd, "weight_ih_l1") == Shape{20, 5});
  for (const auto& [name, t] : sd)
    for (float v : t.to_vector<float>()) CHECK(std::fabs(v) <= 1.0 / std::sqrt(5.0));
}

TEST_CASE("nn: nested module names (Sequential, ModuleList, custom modules)") {
  nn::Sequential seq{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Functional>(relu, "ReLU"),
                     std::make_shared<nn::Linear>(4, 2)};
  CHECK(keys(seq.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(seq.size() == 3);

  TinyNet net;
  CHECK(keys(net.state_dict()) ==
        std::vector<std::string>{"scale", "fc0.weight", "fc0.bias", "layer1.0.conv1.weight", "layer1.0.bn1.weight",
                                 "layer1.0.bn1.bias", "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var",
                                 "layer1.0.bn1.num_batches_tracked"});
  CHECK(keys(net.named_parameters()) == std::vector<std::string>{"scale", "fc0.weight", "fc0.bias",
                                                                 "layer1.0.conv1.weight", "layer1.0.bn1.weight",
                                                                 "layer1.0.bn1.bias"});
  CHECK(keys(net.named_buffers()) == std::vector<std::string>{"layer1.0.bn1.running_mean",
                                                              "layer1.0.bn1.running_var",
                                                              "layer1.0.bn1.num_batches_tracked"});
  std::vector<std::string> modules;
  for (const auto& [name, m] : net.named_modules()) modules.push_back(name);
  CHECK(modules == std::vector<std::string>{"", "fc0", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.bn1"});
  CHECK(net.layer1->at<Block>(0)->conv1->weight().shape() == Shape{2, 2, 3, 3});
  CHECK_THROWS_AS(net.layer1->at<nn::Linear>(0), Error);
  CHECK(net.num_parameters() == 1 + 12 + 36 + 4);
}

TEST_CASE("nn: registration rejects duplicate and dotted names") {
  nn::Module m;
  m.register_parameter("w", zeros({2}));
  CHECK_THROWS_AS(m.register_parameter("w", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_buffer("w", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_parameter("a.b", zeros({2})), Error);
  CHECK_THROWS_AS(m.register_module("w", std::make_shared<nn::Linear>(1, 1)), Error);
}

TEST_CASE("nn: a parameter shared by two modules is listed and counted once") {
  nn::Module m;
  auto a = m.register_module("a", std::make_shared<nn::Linear>(2, 2, false));
  auto b = m.register_module("b", std::make_shared<nn::Module>());
  b->register_parameter("tied", a->weight());
  CHECK(keys(m.named_parameters()) == std::vector<std::string>{"a.weight"});
  CHECK(keys(m.state_dict()) == std::vector<std::string>{"a.weight", "b.tied"});
  CHECK(m.num_parameters() == 4);
}

TEST_CASE("nn: Embedding and Dropout forwards") {
  nn::Embedding emb(6, 3, 0);
  Tensor ids = from_vector<int64_t>({2, 0, 5, 2}, {2, 2});
  Tensor y = emb.forward(ids);
  CHECK(y.shape() == Shape{2, 2, 3});
  std::vector<float> w = emb.weight().to_vector<float>(), out = y.to_vector<float>();
  for (int j = 0; j < 3; ++j) {
    CHECK(out[0 * 3 + j] == w[2 * 3 + j]);
    CHECK(out[1 * 3 + j] == 0.0f);  // the padding row
    CHECK(out[2 * 3 + j] == w[5 * 3 + j]);
  }

  nn::Dropout drop(0.5);
  Tensor x = ones({1000});
  std::vector<float> train_out = drop.forward(x).to_vector<float>();
  int zeros_seen = 0;
  for (float v : train_out) {
    CHECK((v == 0.0f || v == 2.0f));
    zeros_seen += v == 0.0f;
  }
  CHECK(zeros_seen > 400);
  CHECK(zeros_seen < 600);
  drop.eval();
  CHECK(drop.forward(x).to_vector<float>() == std::vector<float>(1000, 1.0f));
}

TEST_CASE("nn: LSTM dropout acts between layers in training only") {
  Generator init(5), drop_gen(6);
  nn::LSTM lstm(3, 4, 2, 0.5, &init);
  Tensor x = rand({4, 2, 3}, Options(), &init);
  lstm.eval();
  std::vector<float> a = lstm.forward(x).to_vector<float>(), b = lstm.forward(x).to_vector<float>();
  CHECK(a == b);
  lstm.train();
  std::vector<float> c = lstm.forward(x).to_vector<float>();
  CHECK(c != a);
  nn::LSTM one_layer(3, 4, 1, 0.5, &drop_gen);  // a single layer has nowhere to drop
  std::vector<float> d = one_layer.forward(x).to_vector<float>(), e = one_layer.forward(x).to_vector<float>();
  CHECK(d == e);
}

// ---------------- load_state_dict ----------------

TEST_CASE("nn: load_state_dict copies values in place, by name") {
  nn::Sequential src{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Linear>(4, 2)};
  nn::Sequential dst{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Linear>(4, 2)};
  TensorList before = dst.parameters();
  nn::LoadResult r = dst.load_state_dict(src.state_dict());
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  auto s = src.state_dict(), d = dst.state_dict();
  for (size_t i = 0; i < s.size(); ++i) CHECK(s[i].second.to_vector<float>() == d[i].second.to_vector<float>());
  // In place: the handles taken before the load see the new values and are still parameters.
  CHECK(before[0].to_vector<float>() == s[0].second.to_vector<float>());
  CHECK(before[0].requires_grad());
  CHECK(before[0].storage() != s[0].second.storage());

  std::map<std::string, Tensor> as_map(s.begin(), s.end());
  CHECK_NOTHROW(dst.load_state_dict(as_map));
}

TEST_CASE("nn: strict load_state_dict reports every problem in one error, and loads nothing") {
  nn::Sequential model{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Linear>(4, 2)};
  std::vector<float> w0_before = model.state_dict()[0].second.to_vector<float>();
  nn::NamedTensors ckpt = {
      {"0.weight", full({4, 3}, 0.5)},                   // fine
      {"0.bias", zeros({5})},                            // wrong shape
      {"1.weight", zeros({2, 4}, Options(DType::F64))},  // wrong dtype
      // "1.bias" missing
      {"1.extra", zeros({1})},  // unexpected
  };
  std::string msg;
  try {
    model.load_state_dict(ckpt);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("4 problems") != std::string::npos);
  CHECK(msg.find("missing key '1.bias'") != std::string::npos);
  CHECK(msg.find("unexpected key '1.extra'") != std::string::npos);
  CHECK(msg.find("shape mismatch for '0.bias'") != std::string::npos);
  CHECK(msg.find("[4]") != std::string::npos);
  CHECK(msg.find("[5]") != std::string::npos);
  CHECK(msg.find("dtype mismatch for '1.weight'") != std::string::npos);
  CHECK(msg.find("float64") != std::string::npos);
  CHECK(model.state_dict()[0].second.to_vector<float>() == w0_before);  // all or nothing
}

TEST_CASE("nn: non-strict load_state_dict lists missing and unexpected keys, still rejects bad shapes") {
  nn::Sequential model{std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Linear>(4, 2)};
  nn::NamedTensors ckpt = {{"0.weight", full({4, 3}, 0.5)}, {"head.bias", zeros({2})}};
  nn::LoadResult r = model.load_state_dict(ckpt, false);
  CHECK(r.missing_keys == std::vector<std::string>{"0.bias", "1.weight", "1.bias"});
  CHECK(r.unexpected_keys == std::vector<std::string>{"head.bias"});
  CHECK(model.state_dict()[0].second.to_vector<float>() == std::vector<float>(12, 0.5f));

  nn::NamedTensors bad = {{"0.weight", zeros({3, 4})}};
  CHECK_THROWS_AS(model.load_state_dict(bad, false), Error);
}

// ---------------- modes, dtype, freezing ----------------

TEST_CASE("nn: train/eval recurse through children") {
  auto inner = std::make_shared<nn::Sequential>(
      std::initializer_list<std::shared_ptr<nn::Module>>{std::make_shared<nn::BatchNorm2d>(2)});
  nn::Sequential outer{std::make_shared<nn::Dropout>(0.5), inner};
  CHECK(outer.is_training());
  outer.eval();
  for (const auto& [name, m] : outer.named_modules()) CHECK_FALSE(m->is_training());
  outer.train();
  for (const auto& [name, m] : outer.named_modules()) CHECK(m->is_training());
  inner->eval();
  CHECK(outer.is_training());
  CHECK_FALSE((*inner)[0]->is_training());
}

TEST_CASE("nn: module to(DType) converts floating parameters and buffers in place") {
  auto bn = std::make_shared<nn::BatchNorm2d>(3);
  auto lin = std::make_shared<nn::Linear>(2, 3);
  nn::Sequential seq{lin, bn};
  TensorList params = seq.parameters();  // handles taken before the conversion
  std::vector<float> w32 = lin->weight().to_vector<float>();
  seq.to(DType::F64);
  for (const Tensor& p : params) {
    CHECK(p.dtype() == DType::F64);
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
  CHECK(lin->weight().dtype() == DType::F64);
  CHECK(bn->running_mean().dtype() == DType::F64);
  CHECK(bn->num_batches_tracked().dtype() == DType::I64);
  std::vector<double> w64 = lin->weight().to_vector<double>();
  for (size_t i = 0; i < w32.size(); ++i) CHECK(w64[i] == static_cast<double>(w32[i]));
  seq.to(Device::cpu());  // no-op on the same device
  CHECK(lin->weight().dtype() == DType::F64);
}

TEST_CASE("nn: set_requires_grad freezes and unfreezes every parameter; zero_grad clears grads") {
  nn::Sequential seq{std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::Linear>(3, 1)};
  seq.set_requires_grad(false);
  for (const Tensor& p : seq.parameters()) CHECK_FALSE(p.requires_grad());
  seq.set_requires_grad(true);
  for (const Tensor& p : seq.parameters()) CHECK(p.requires_grad());
  Tensor y = sum(seq.forward(ones({4, 2})));
  y.backward();
  for (const Tensor& p : seq.parameters()) CHECK(p.grad().defined());
  seq.zero_grad();
  for (const Tensor& p : seq.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("nn: frozen extractor records no graph, gets no grads, and stays bit-identical after a step") {
  Generator gen(3);
  auto extractor = std::make_shared<nn::Linear>(4, 3, true, &gen);
  auto head = std::make_shared<nn::Linear>(3, 2, true, &gen);
  extractor->set_requires_grad(false);

  std::vector<float> ext_w = extractor->weight().to_vector<float>(), ext_b = extractor->bias().to_vector<float>();
  std::vector<float> head_w = head->weight().to_vector<float>();

  TensorList all = extractor->parameters();
  for (const Tensor& p : head->parameters()) all.push_back(p);
  optim::SGD opt(all, 0.1, 0.9, 1e-2);

  Tensor x = rand({5, 4}, Options(), &gen);
  Tensor feat = extractor->forward(x);
  CHECK_FALSE(feat.requires_grad());
  CHECK(feat.grad_fn() == nullptr);
  Tensor y = head->forward(feat);
  CHECK(y.requires_grad());
  Tensor loss = sum(mul(y, y));
  loss.backward();
  CHECK_FALSE(extractor->weight().grad().defined());
  CHECK_FALSE(extractor->bias().grad().defined());
  CHECK(head->weight().grad().defined());
  CHECK(head->bias().grad().defined());

  opt.step();
  std::vector<float> ext_w2 = extractor->weight().to_vector<float>(), ext_b2 = extractor->bias().to_vector<float>();
  CHECK(std::memcmp(ext_w.data(), ext_w2.data(), ext_w.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(ext_b.data(), ext_b2.data(), ext_b.size() * sizeof(float)) == 0);
  CHECK(head->weight().to_vector<float>() != head_w);
}

// ---------------- module gradchecks (float64, the module's own parameters as inputs) ----------------

namespace {
TensorList with_params(Tensor x, const nn::Module& m) {
  TensorList in{std::move(x)};
  for (const Tensor& p : m.parameters()) in.push_back(p);
  return in;
}
}  // namespace

TEST_CASE("nn: module gradcheck Linear") {
  auto lin = std::make_shared<nn::Linear>(4, 3);
  lin->to(DType::F64);
  expect_gradcheck("module Linear", [lin](const TensorList& in) -> TensorList { return {lin->forward(in[0])}; },
                   with_params(rnd({2, 5, 4}, 101), *lin));
}

TEST_CASE("nn: module gradcheck Conv2d") {
  auto conv = std::make_shared<nn::Conv2d>(2, 3, Pair2{3, 2}, Pair2{2, 1}, 1);
  conv->to(DType::F64);
  expect_gradcheck("module Conv2d", [conv](const TensorList& in) -> TensorList { return {conv->forward(in[0])}; },
                   with_params(rnd({2, 2, 5, 4}, 102), *conv));
}

TEST_CASE("nn: module gradcheck BatchNorm2d (train mode)") {
  auto bn = std::make_shared<nn::BatchNorm2d>(3);
  bn->to(DType::F64);
  randomize(bn->weight(), 103, 0.5, 1.5);
  randomize(bn->bias(), 104);
  CHECK(bn->is_training());
  expect_gradcheck("module BatchNorm2d train", [bn](const TensorList& in) -> TensorList { return {bn->forward(in[0])}; },
                   with_params(rnd({4, 3, 2, 3}, 105), *bn));
  CHECK(bn->num_batches_tracked().item() > 0);  // every training forward counts
}

TEST_CASE("nn: module BatchNorm2d counts training batches only") {
  nn::BatchNorm2d bn(2);
  Tensor x = rand({3, 2, 2, 2});
  bn.forward(x);
  bn.forward(x);
  CHECK(bn.num_batches_tracked().item() == 2);
  bn.eval();
  bn.forward(x);
  CHECK(bn.num_batches_tracked().item() == 2);
}

TEST_CASE("nn: module gradcheck LayerNorm") {
  auto ln = std::make_shared<nn::LayerNorm>(Shape{3, 4});
  ln->to(DType::F64);
  randomize(ln->weight(), 106, 0.5, 1.5);
  randomize(ln->bias(), 107);
  expect_gradcheck("module LayerNorm", [ln](const TensorList& in) -> TensorList { return {ln->forward(in[0])}; },
                   with_params(rnd({2, 3, 4}, 108), *ln));
}

TEST_CASE("nn: module gradcheck LSTM over 3 time steps, 2 layers, with an initial state") {
  auto lstm = std::make_shared<nn::LSTM>(3, 4, 2);
  lstm->to(DType::F64);
  TensorList in = with_params(rnd({3, 2, 3}, 109), *lstm);  // x (T=3, B=2, in=3)
  in.push_back(rnd({2, 2, 4}, 110));                           // h0 (L, B, H)
  in.push_back(rnd({2, 2, 4}, 111));                           // c0
  expect_gradcheck("module LSTM", [lstm](const TensorList& in) -> TensorList {
    auto [out, st] = lstm->forward(in[0], nn::LstmState{in[in.size() - 2], in[in.size() - 1]});
    return {out, st.h, st.c};
  }, in);
}

// ---------------- LSTM forward against torch.nn.LSTM ----------------

TEST_CASE("nn: LSTM forward matches torch.nn.LSTM (float64, 2 layers, given state)") {
  // Reference from PyTorch 1.13: torch.nn.LSTM(2, 3, 2).double() with every state_dict entry k
  // set to 0.3·sin(1.7·(j+1) + k) (j: flat index), x[t,b,i] = cos(0.5·flat + 0.2),
  // h0 = 0.1·sin(flat), c0 = 0.2·cos(flat).
  const int64_t IN = 2, H = 3, L = 2, T = 3, B = 2;
  nn::LSTM lstm(IN, H, L);
  lstm.to(DType::F64);
  auto sd = lstm.state_dict();
  for (size_t k = 0; k < sd.size(); ++k) set_values(sd[k].second, [k](int64_t j) { return 0.3 * std::sin(1.7 * (j + 1) + k); });
  Tensor x = zeros({T, B, IN}, Options(DType::F64)), h0 = zeros({L, B, H}, Options(DType::F64)),
         c0 = zeros({L, B, H}, Options(DType::F64));
  set_values(x, [](int64_t i) { return std::cos(0.5 * i + 0.2); });
  set_values(h0, [](int64_t i) { return 0.1 * std::sin(static_cast<double>(i)); });
  set_values(c0, [](int64_t i) { return 0.2 * std::cos(static_cast<double>(i)); });

  auto [out, st] = lstm.forward(x, nn::LstmState{h0, c0});
  const std::vector<double> want_out = {
      -0.022743633939902322, 0.13696745076030065, 0.025748665699864188, -0.11318501549977834, 0.036018094065526245,
      0.032098163701577226,  -0.07475510106067867, 0.17399032236808637, 0.0434994915499816,   -0.1241476084314041,
      0.12372211482786862,   0.05855731624451811, -0.1046551961853895,  0.19594974011377037,  0.052220117641499406,
      -0.13882279199398445,  0.16849808368225497, 0.059493569154805116};
  const std::vector<double> want_h = {0.19386069083848978, -0.10116980629492295, -0.14895697288842946,
                                      0.17632638262529488, -0.03073629470245702, -0.21942755459954788,
                                      -0.1046551961853895, 0.19594974011377037,  0.052220117641499406,
                                      -0.13882279199398445, 0.16849808368225497, 0.059493569154805116};
  const std::vector<double> want_c = {0.38371199351204616, -0.163675369193149,  -0.41139650104020153,
                                      0.291695298038265,   -0.05594284288523325, -0.5263092698468528,
                                      -0.2830170081962617, 0.4107436986501998,   0.085186978765578,
                                      -0.3790546248795436, 0.34694186219281964,  0.0976045296891381};
  CHECK(out.shape() == Shape{T, B, H});
  CHECK(st.h.shape() == Shape{L, B, H});
  CHECK(st.c.shape() == Shape{L, B, H});
  auto close = [](const Tensor& got, const std::vector<double>& want) {
    std::vector<double> g = got.to_vector<double>();
    REQUIRE(g.size() == want.size());
    for (size_t i = 0; i < g.size(); ++i) {
      INFO("element ", i, ": got ", g[i], " want ", want[i]);
      CHECK(std::fabs(g[i] - want[i]) <= 1e-12);
    }
  };
  close(out, want_out);
  close(st.h, want_h);
  close(st.c, want_c);
  // Zero state when none is given, and the single-tensor forward returns the same output.
  Tensor out0 = lstm.forward(x);
  auto [out1, st1] = lstm.forward(x, nn::LstmState{zeros({L, B, H}, Options(DType::F64)),
                                                   zeros({L, B, H}, Options(DType::F64))});
  CHECK(out0.to_vector<double>() == out1.to_vector<double>());
}

TEST_CASE("nn: LSTM rejects badly shaped input and state") {
  nn::LSTM lstm(3, 4, 2);
  CHECK_THROWS_AS(lstm.forward(zeros({2, 3})), Error);
  CHECK_THROWS_AS(lstm.forward(zeros({2, 1, 5})), Error);
  CHECK_THROWS_AS(lstm.forward(zeros({2, 1, 3}), nn::LstmState{zeros({1, 1, 4}), zeros({1, 1, 4})}), Error);
}
