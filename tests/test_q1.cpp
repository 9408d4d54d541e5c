// tests/test_q1.cpp — the Q1 pipeline (apps/common/q1_*.h) on generated data, in seconds:
//   - the frozen invariant: training with a frozen extractor (on cached features, and through the
//     whole network) leaves every extractor parameter and buffer bit-identical, BN running
//     statistics and num_batches_tracked included; unfrozen with BnMode::Frozen moves the weights
//     but not the running statistics;
//   - a tiny end-to-end run on synthetic two-class "digits" (bars) at 16×16: the loss falls and
//     test accuracy beats chance, for the scratch network and for run_study as a whole;
//   - the input pipeline (shape, normalisation, seeded shifts), the label split, the head choice;
//   - the sweep CSV and SVG (header, rows, three polylines, axes, legend).
// The ResNet18 here is the real one (11M parameters); images are 16×16 so a step costs ~0.1 s.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/common/app_util.h"
#include "apps/common/q1_report.h"
#include "apps/common/q1_study.h"

using namespace ember;
using namespace ember::q1;

namespace {

// n grey 28×28 images of two classes: 0 = a horizontal bar, 1 = a vertical bar, each 4 px thick
// at a random position, on a dark noisy background (labels alternate 0, 1, 0, …).
datasets::ImageSet bars(int64_t n, uint64_t seed) {
  datasets::ImageSet s;
  s.n = n, s.c = 1, s.h = 28, s.w = 28;
  s.pixels.assign(n * 28 * 28, 0);
  Generator gen(seed);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = i % 2, pos = 4 + datasets::random_below(gen, 16);
    s.labels.push_back(label);
    uint8_t* img = s.pixels.data() + i * 28 * 28;
    for (int64_t y = 0; y < 28; ++y)
      for (int64_t x = 0; x < 28; ++x) {
        const bool on = label == 0 ? (y >= pos && y < pos + 4) : (x >= pos && x < pos + 4);
        img[y * 28 + x] = static_cast<uint8_t>(on ? 200 + datasets::random_below(gen, 56) : datasets::random_below(gen, 30));
      }
  }
  return s;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

InputPipeline small_pipe() {
  InputPipeline p;
  p.image_size = 16;
  p.max_shift = 2;
  return p;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.raw_data(), y.raw_data(), x.numel() * dtype_size(x.dtype())) == 0;
}

// Names of the extractor's state (everything but fc) whose bits differ from `before`.
std::vector<std::string> changed(const models::ResNet18& net, const nn::NamedTensors& before) {
  std::vector<std::string> out;
  nn::NamedTensors now = net.state_dict();
  REQUIRE(now.size() == before.size());
  for (size_t i = 0; i < now.size(); ++i)
    if (now[i].first.rfind("fc.", 0) != 0 && !bit_identical(now[i].second, before[i].second))
      out.push_back(now[i].first);
  return out;
}

// A ResNet18 whose BN running statistics are not the defaults (one training-mode forward), so
// that "unchanged" means something.
std::shared_ptr<models::ResNet18> warmed_resnet(uint64_t seed) {
  Generator gen(seed);
  auto net = std::make_shared<models::ResNet18>(10, &gen);
  datasets::ImageSet s = bars(8, seed + 1);
  net->train();
  NoGradGuard ng;
  net->forward(make_batch(s, iota(8), small_pipe()));
  return net;
}

TrainOptions tiny_options(int64_t epochs, int64_t batch) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = batch;
  o.progress = false;
  o.label = "test";
  return o;
}

}  // namespace

TEST_CASE("q1: a frozen extractor stays bit-identical (cached features and through the network)") {
  auto net = warmed_resnet(3);
  const nn::NamedTensors before = snapshot(*net);
  datasets::ImageSet s = bars(12, 7);
  LabelledSplit split{iota(8), {8, 9, 10, 11}};

  // Path 1: features once, then the head on the cached features.
  net->set_requires_grad(false);
  FeatureSet tr = extract_features(*net, s, split.train, small_pipe(), 4, Device::cpu(), "f", false);
  FeatureSet va = extract_features(*net, s, split.valid, small_pipe(), 4, Device::cpu(), "f", false);
  CHECK(tr.x.shape() == Shape{8, 512});
  Generator g(1);
  auto head = make_head(HeadKind::Mlp, 512, 10, &g);
  train_head(*head, tr, va, tiny_options(3, 4));
  CHECK(changed(*net, before).empty());

  // Path 2: the whole network trains with the extractor frozen (Phase{true}): only the head moves.
  auto head2 = make_head(HeadKind::Linear, 512, 10, &g);
  const nn::NamedTensors head_before = snapshot(*head2);
  TransferNet tn(net, head2);
  train_network(tn, s, split, small_pipe(), Phase{true, BnMode::Frozen}, tiny_options(2, 4), Device::cpu());
  std::vector<std::string> moved = changed(*net, before);
  CHECK_MESSAGE(moved.empty(), "changed under a frozen extractor: ", moved.empty() ? "" : moved.front());
  CHECK_FALSE(bit_identical(head2->state_dict()[0].second, head_before[0].second));
  for (const Tensor& p : net->extractor_parameters()) CHECK_FALSE(p.requires_grad());
}

TEST_CASE("q1: unfrozen with BnMode::Frozen trains weights but keeps the BN running statistics") {
  auto net = warmed_resnet(5);
  const nn::NamedTensors before = snapshot(*net);
  datasets::ImageSet s = bars(8, 9);
  Generator g(2);
  TransferNet tn(net, make_head(HeadKind::Linear, 512, 10, &g));
  train_network(tn, s, LabelledSplit{iota(8), {}}, small_pipe(), Phase{false, BnMode::Frozen}, tiny_options(1, 4),
                Device::cpu());
  std::vector<std::string> moved = changed(*net, before);
  CHECK(std::find(moved.begin(), moved.end(), "conv1.weight") != moved.end());
  CHECK(std::find(moved.begin(), moved.end(), "layer4.1.bn2.weight") != moved.end());
  for (const std::string& name : moved) {
    CHECK_MESSAGE(name.find("running_") == std::string::npos, name, " moved with frozen batch norm");
    CHECK_MESSAGE(name.find("num_batches_tracked") == std::string::npos, name, " moved with frozen batch norm");
  }
  // BnMode::Train re-estimates them.
  train_network(tn, s, LabelledSplit{iota(8), {}}, small_pipe(), Phase{false, BnMode::Train}, tiny_options(1, 4),
                Device::cpu());
  moved = changed(*net, before);
  CHECK(std::find(moved.begin(), moved.end(), "bn1.running_mean") != moved.end());
}

TEST_CASE("q1: tiny end-to-end: loss falls and accuracy beats chance") {
  datasets::ImageSet train = bars(48, 11), test = bars(40, 12);
  LabelledSplit split = labelled_split(train.labels, 0, 0.25, 3);
  REQUIRE(split.train.size() == 36);
  REQUIRE(split.valid.size() == 12);
  Generator g(4);
  TransferNet net(std::make_shared<models::ResNet18>(10, &g), make_head(HeadKind::Linear, 512, 10, &g));
  TrainOptions o = tiny_options(4, 12);
  o.extractor_lr = o.lr;
  TrainResult r = train_network(net, train, split, small_pipe(), Phase{false, BnMode::Train}, o, Device::cpu());
  REQUIRE(r.history.size() == 4);
  CHECK(r.history.back().loss < 0.7 * r.history.front().loss);
  const double acc = evaluate_network(net, test, iota(test.n), small_pipe(), 20, Device::cpu(), "t", false);
  CHECK(acc >= 0.8);  // chance is 0.5

  // The whole study on the same data, transferring the extractor just trained: every accuracy a
  // probability, and its frozen features beat chance.
  StudyConfig cfg;
  cfg.labels_per_class = 0;
  cfg.valid_fraction = 0.25;
  cfg.frozen_epochs = 2, cfg.epochs = 1, cfg.scratch_epochs = 1, cfg.batch_size = 12;
  cfg.pipe = small_pipe();
  cfg.progress = false;
  StudyResult s = run_study(net.extractor(), train, test, cfg);
  CHECK(s.train_examples == 36);
  CHECK(s.valid_examples == 12);
  CHECK(s.test_examples == 40);
  for (double a : {s.frozen.test_accuracy, s.unfrozen.test_accuracy, s.scratch.test_accuracy}) {
    CHECK(a >= 0.0);
    CHECK(a <= 1.0);
  }
  CHECK(s.frozen.test_accuracy > 0.6);
  CHECK(s.head == choose_head(s.linear_valid_accuracy, s.mlp_valid_accuracy));
  nlohmann::json j = s.to_json();
  for (const char* key : {"frozen_test_accuracy", "unfrozen_test_accuracy", "scratch_test_accuracy",
                          "labels_per_class", "train_examples", "test_examples"})
    CHECK_MESSAGE(j.contains(key), key);
}

TEST_CASE("q1: the head choice: the MLP must beat the linear head on validation") {
  CHECK(choose_head(0.90, 0.91) == HeadKind::Mlp);
  CHECK(choose_head(0.90, 0.90) == HeadKind::Linear);  // a tie keeps the simpler head
  CHECK(choose_head(0.91, 0.90) == HeadKind::Linear);
  CHECK(parse_head("mlp") == HeadKind::Mlp);
  CHECK_THROWS(parse_head("resnet"));
  Generator g(0);
  CHECK(make_head(HeadKind::Linear, 512, 10, &g)->num_parameters() == 512 * 10 + 10);
  auto mlp = make_head(HeadKind::Mlp, 512, 10, &g);
  CHECK(mlp->num_parameters() == 512 * 256 + 256 + 256 * 10 + 10);
  mlp->eval();
  CHECK(mlp->forward(zeros({3, 512})).shape() == Shape{3, 10});
}

TEST_CASE("q1: the label split is balanced, disjoint and seeded") {
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 500; ++i) labels.push_back(i % 10);
  LabelledSplit a = labelled_split(labels, 10, 0.2, 42), b = labelled_split(labels, 10, 0.2, 42);
  CHECK(a.train == b.train);
  CHECK(a.valid == b.valid);
  CHECK(a.train.size() == 80);
  CHECK(a.valid.size() == 20);
  std::set<int64_t> all(a.train.begin(), a.train.end());
  for (int64_t v : a.valid) CHECK(all.insert(v).second);
  std::vector<int> per_class(10, 0);
  for (int64_t v : a.valid) ++per_class[labels[v]];
  for (int c : per_class) CHECK(c == 2);
  LabelledSplit one = labelled_split(labels, 1, 0.2, 1);  // one label per class: no validation
  CHECK(one.train.size() == 10);
  CHECK(one.valid.empty());
  LabelledSplit two = labelled_split(labels, 2, 0.2, 1);  // at least one per class held out
  CHECK(two.valid.size() == 10);
  CHECK_THROWS(labelled_split(labels, 51, 0.2, 1));  // only 50 per class exist
}

TEST_CASE("q1: make_batch resizes, copies grey to RGB and normalises; shifts are seeded") {
  datasets::ImageSet s = bars(2, 1);
  std::fill(s.pixels.begin(), s.pixels.begin() + 28 * 28, uint8_t(0));  // image 0 all black
  InputPipeline p;
  p.image_size = 32;
  Tensor x = make_batch(s, {0, 1}, p);
  REQUIRE(x.shape() == Shape{2, 3, 32, 32});
  const float* d = x.data<float>();
  for (int ch = 0; ch < 3; ++ch) CHECK(d[ch * 32 * 32 + 5] == doctest::Approx(-p.mean[ch] / p.std[ch]).epsilon(1e-6));
  p.max_shift = 3;
  Generator g1(9), g2(9);
  Tensor a = make_batch(s, {1, 1, 1}, p, &g1), b = make_batch(s, {1, 1, 1}, p, &g2);
  CHECK(bit_identical(a, b));
  CHECK_FALSE(bit_identical(a, make_batch(s, {1, 1, 1}, p)));  // shifted vs not
}

TEST_CASE("q1: the sweep CSV and SVG hold every point, three polylines, axes and a legend") {
  std::vector<SweepPoint> pts;
  const char* names[] = {"1", "10", "100", "1000", "all"};
  const double xs[] = {1, 10, 100, 1000, 6000};
  for (int i = 0; i < 5; ++i) {
    SweepPoint p;
    p.labels = names[i];
    p.labels_per_class = xs[i];
    p.frozen = 0.3 + 0.1 * i, p.unfrozen = 0.35 + 0.12 * i, p.scratch = 0.2 + 0.15 * i;
    pts.push_back(p);
  }
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ember_q1_" + std::to_string(::getpid()));
  app::write_text_atomic((dir / "sweep.csv").string(), sweep_csv(pts));
  app::write_text_atomic((dir / "sweep.svg").string(), sweep_svg(pts, "test plot"));
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  const std::string csv = slurp(dir / "sweep.csv"), svg = slurp(dir / "sweep.svg");
  fs::remove_all(dir);
  CHECK(csv.rfind("labels_per_class,x,train_examples", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 6);
  CHECK(csv.find("\nall,6000,") != std::string::npos);
  CHECK(csv.find("0.7000") != std::string::npos);  // frozen at "all"
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = svg.find(needle); at != std::string::npos; at = svg.find(needle, at + 1)) ++n;
    return n;
  };
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count("<polyline") == 3);
  CHECK(count("<circle") == 15);
  CHECK(count("class=\"axis\"") == 2);
  CHECK(count("class=\"legend\"") == 3);
  for (const char* s : {">frozen<", ">unfrozen<", ">scratch<", ">1000<", "log scale", "test plot"})
    CHECK_MESSAGE(svg.find(s) != std::string::npos, s);
  // log x: 1, 10, 100, 1000 are equally spaced along the frozen polyline.
  const size_t at = svg.find("points=\"", svg.find("class=\"frozen\"")) + 8;
  std::istringstream line(svg.substr(at, svg.find('"', at) - at));
  std::vector<double> px;
  for (std::string xy; line >> xy;) px.push_back(std::stod(xy.substr(0, xy.find(','))));
  REQUIRE(px.size() == 5);
  CHECK(px[1] - px[0] == doctest::Approx(px[2] - px[1]).epsilon(0.01));
  CHECK(px[3] - px[2] == doctest::Approx(px[2] - px[1]).epsilon(0.01));
  CHECK_THROWS(sweep_svg({}, "empty"));
}
