// apps/bench.cpp — ember's CPU benchmark program: times whole training/inference steps and a
// single GEMM (the machine's practical float32 peak through OpenBLAS, measured in the same run),
// prints a table and writes JSON. scripts/bench/bench_pytorch.py times the same workloads in
// PyTorch and scripts/bench/compare.sh runs both and prints the ratios. Not a test.
//
// Workloads (--only a,b,…):
//   sgemm       C = A·B, 1024³ float32: GFLOP/s, the reference for "fraction of peak"
//   bert_step   one BERT fine-tune step: all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads,
//               intermediate 1536), batch 32 × length 128, mean pooling + Linear(384, 3), cross-entropy,
//               backward, AdamW (lr 5e-5, wd 0.01). FLOPs counted by hand: 3 × forward (2·MACs of every
//               linear layer + attention's two batched products).
//   bert_infer  the same encoder forward alone, no graph (eval mode)
//   resnet_train32 / resnet_train64   ResNet18 (10 classes) train step, batch 64 at 32×32 / 64×64:
//               forward, cross-entropy, backward, SGD momentum 0.9 (batch norm in training mode)
//   resnet_infer32 / resnet_infer64   the same network in eval mode without a graph
//   lstm_step   the Q2 LM step: 2×200 tied LSTM, vocabulary 33,278, batch 20 × BPTT 35, cross-entropy,
//               backward, clip_grad_norm_(0.25), SGD lr 20
//   ops         every hot op alone, forward + backward (gradient of ones-like seeds): conv2d at each
//               ResNet18 layer shape of the 64×64 batch-64 step (op_conv_*), linear (BERT's FFN in,
//               4096×384 → 1536), one LSTM layer (200 → 200, T 35, B 20), attention (BERT's: 32 × 12 heads
//               × 128 × 32, dropout 0.1), layer norm (4096 × 384) and softmax cross-entropy over 33,278
//               classes (700 rows). Each op row may also be named alone (op_linear, op_conv_l2, …).
//               Memory-bound rows (layer norm, cross-entropy) report GB/s of the bytes they must move.
// Each is timed --repeats times after --warmup untimed runs; the table gives the median.
#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "apps/common/app_util.h"
#include "engine/ops.h"
#include "engine/optim/optim.h"
#include "models/bert.h"
#include "models/lstm_lm.h"
#include "models/resnet18.h"

using namespace ember;
using nlohmann::json;

namespace {

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

struct Timing {
  double median_s = 0, min_s = 0;
  std::vector<double> all;
};

Timing time_it(const std::function<void()>& f, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) f();
  Timing t;
  for (int i = 0; i < repeats; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.all.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::vector<double> s = t.all;
  std::sort(s.begin(), s.end());
  t.median_s = s[s.size() / 2];
  t.min_s = s.front();
  return t;
}

// Forward FLOPs of a BERT encoder on B×T tokens (linear layers and the two attention products).
double bert_forward_flops(const models::BertConfig& c, int64_t B, int64_t T) {
  const double C = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double tokens = static_cast<double>(B * T);
  double per_layer = 2 * tokens * (4 * C * C + 2 * C * I) + 2 * 2 * tokens * static_cast<double>(T) * C;
  return per_layer * static_cast<double>(c.num_hidden_layers);
}

struct Row {
  std::string name, unit;
  double items = 0, flops = 0;
  Timing t;
  double rss = 0;
  double bytes = 0;  // memory-bound rows: bytes read + written by forward + backward, counted by hand
};

// Leaves of an op row: inputs and weights that want gradients, and their seeds.
Tensor leaf(const Shape& shape, bool grad, Generator& gen) {
  Tensor t = randn(shape, {}, &gen);
  if (grad) t.requires_grad_();
  return t;
}
void clear_grads(std::initializer_list<Tensor*> ts) {
  for (Tensor* t : ts) t->zero_grad();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember bench: times training/inference steps and a GEMM on this CPU; prints a table, writes JSON"};
  std::string only =
      "sgemm,bert_step,bert_infer,resnet_train32,resnet_infer32,resnet_train64,resnet_infer64,lstm_step,ops";
  std::string json_path = "results/bench_ember.json";
  int warmup = 2, repeats = 5;
  int64_t batch = 32, length = 128;
  app.add_option("--only", only, "comma-separated workloads: sgemm, bert_step, bert_infer, resnet_train32, "
                                 "resnet_infer32, resnet_train64, resnet_infer64, lstm_step, ops (every op_* row) "
                                 "or one op_* row");
  app.add_option("--warmup", warmup, "untimed runs before timing");
  app.add_option("--repeats", repeats, "timed runs (the median is reported)");
  app.add_option("--batch", batch, "BERT batch size");
  app.add_option("--length", length, "BERT sequence length");
  app.add_option("--json", json_path, "where to write the results JSON");
  CLI11_PARSE(app, argc, argv);
  auto wants = [&](const std::string& w) { return ("," + only + ",").find("," + w + ",") != std::string::npos; };

  try {
    std::vector<Row> rows;
    manual_seed(0);
    if (wants("sgemm")) {
      const int64_t n = 1024;
      Tensor a = randn({n, n}), b = randn({n, n});
      NoGradGuard ng;
      Row r{"sgemm 1024^3", "GEMM", 1, 2.0 * n * n * n};
      r.t = time_it([&] { Tensor c = matmul(a, b); }, warmup, std::max(repeats, 10));
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }
    models::BertConfig cfg = models::BertConfig::named("minilm");
    if (wants("bert_step") || wants("bert_infer")) {
      Generator gen(1);
      auto bert = std::make_shared<models::BertModel>(cfg, &gen);
      nn::Linear head(cfg.hidden_size, 3, true, &gen);
      Tensor ids = randint(1, cfg.vocab_size, {batch, length}, Options(DType::I64), &gen);
      Tensor types = zeros({batch, length}, Options(DType::I64));
      Tensor mask = ones({batch, length}, Options(DType::I64));
      Tensor targets = randint(0, 3, {batch}, Options(DType::I64), &gen);
      const double fwd = bert_forward_flops(cfg, batch, length);
      if (wants("bert_step")) {
        TensorList params = bert->parameters();
        for (auto& p : head.parameters()) params.push_back(p);
        optim::AdamW opt(params, 5e-5, 0.9, 0.999, 1e-8, 0.01);
        bert->train();
        Row r{"bert_step MiniLM b" + std::to_string(batch) + " t" + std::to_string(length), "pairs", double(batch),
              3 * fwd};
        double t_fwd = 0, t_bwd = 0, t_opt = 0;
        auto now = [] { return std::chrono::steady_clock::now(); };
        auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
        r.t = time_it(
            [&] {
              auto t0 = now();
              opt.zero_grad();
              Tensor h = bert->encode(ids, types, mask);
              Tensor loss = cross_entropy(head.forward(models::masked_mean_pool(h, mask)), targets);
              auto t1 = now();
              loss.backward();
              auto t2 = now();
              opt.step();
              (void)loss.item();
              auto t3 = now();
              t_fwd += secs(t0, t1), t_bwd += secs(t1, t2), t_opt += secs(t2, t3);
            },
            warmup, repeats);
        const double n = warmup + repeats;
        std::printf("bert_step phases (mean of %d runs): forward %.0f ms, backward %.0f ms, AdamW %.0f ms\n",
                    static_cast<int>(n), 1e3 * t_fwd / n, 1e3 * t_bwd / n, 1e3 * t_opt / n);
        r.rss = peak_rss_mib();
        rows.push_back(r);
      }
      if (wants("bert_infer")) {
        bert->eval();
        NoGradGuard ng;
        Row r{"bert_infer MiniLM b" + std::to_string(batch) + " t" + std::to_string(length), "pairs", double(batch),
              fwd};
        r.t = time_it([&] { Tensor h = bert->encode(ids, types, mask); }, warmup, repeats);
        r.rss = peak_rss_mib();
        rows.push_back(r);
      }
    }

    for (int64_t size : {32, 64}) {
      const std::string tr = "resnet_train" + std::to_string(size), in = "resnet_infer" + std::to_string(size);
      if (!wants(tr) && !wants(in)) continue;
      Generator gen(2);
      models::ResNet18 net(10, &gen);
      const int64_t B = 64;
      Tensor x = randn({B, 3, size, size}, {}, &gen);
      Tensor y = randint(0, 10, {B}, Options(DType::I64), &gen);
      // Forward FLOPs of ResNet18 at 224² are 1.82 G multiply-adds per image; they scale with the area.
      const double fwd = 2 * 1.82e9 * B * (double(size) * size) / (224.0 * 224.0);
      if (wants(tr)) {
        optim::SGD opt(net.parameters(), 0.01, 0.9);
        net.train();
        Row r{"resnet18 train b64 " + std::to_string(size) + "px", "img", double(B), 3 * fwd};
        r.t = time_it(
            [&] {
              opt.zero_grad();
              Tensor loss = cross_entropy(net.forward(x), y);
              loss.backward();
              opt.step();
              (void)loss.item();
            },
            warmup, repeats);
        r.rss = peak_rss_mib();
        rows.push_back(r);
      }
      if (wants(in)) {
        net.eval();
        NoGradGuard ng;
        Row r{"resnet18 infer b64 " + std::to_string(size) + "px", "img", double(B), fwd};
        r.t = time_it([&] { Tensor out = net.forward(x); }, warmup, repeats);
        r.rss = peak_rss_mib();
        rows.push_back(r);
      }
    }
    if (wants("lstm_step")) {
      Generator gen(3);
      const int64_t V = 33278, H = 200, T = 35, B = 20;
      models::LstmLM lm(models::LstmLMConfig{V, H, H, 2, 0.2, true}, &gen);
      lm.train();
      Tensor ids = randint(0, V, {T, B}, Options(DType::I64), &gen), tgt = randint(0, V, {T * B}, Options(DType::I64), &gen);
      optim::SGD opt(lm.parameters(), 20.0);
      TensorList params = lm.parameters();
      // FLOPs: per token and layer 2·(4H·(in + H)) for the gates, plus the decoder 2·H·V.
      const double flops = 3 * double(T * B) * (2 * 2 * 4.0 * H * (2 * H) + 2.0 * H * V);
      Row r{"lstm_lm 2x200 b20 t35", "tok", double(T * B), flops};
      r.t = time_it(
          [&] {
            opt.zero_grad();
            auto [logits, st] = lm.forward(ids, nn::LstmState{});
            Tensor loss = cross_entropy(logits.reshape({T * B, V}), tgt);
            loss.backward();
            optim::clip_grad_norm_(params, 0.25);
            opt.step();
            (void)loss.item();
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }

    // ---- the hot ops alone, forward + backward ----
    auto want_op = [&](const std::string& name) { return wants("ops") || wants(name); };
    struct ConvShape {
      const char* name;
      int64_t cin, cout, hw, k, stride, pad;
      bool input_grad;
    };
    // ResNet18 on 64×64 inputs, batch 64: the stem, then each stage's first (strided) and repeated conv.
    const ConvShape convs[] = {{"stem", 3, 64, 64, 7, 2, 3, false},   {"l1", 64, 64, 16, 3, 1, 1, true},
                               {"l2_down", 64, 128, 16, 3, 2, 1, true}, {"l2_skip", 64, 128, 16, 1, 2, 0, true},
                               {"l2", 128, 128, 8, 3, 1, 1, true},       {"l3_down", 128, 256, 8, 3, 2, 1, true},
                               {"l3", 256, 256, 4, 3, 1, 1, true},       {"l4_down", 256, 512, 4, 3, 2, 1, true},
                               {"l4", 512, 512, 2, 3, 1, 1, true}};
    for (const ConvShape& c : convs) {
      const std::string name = std::string("op_conv_") + c.name;
      if (!want_op(name)) continue;
      Generator gen(10);
      const int64_t N = 64, ho = (c.hw + 2 * c.pad - c.k) / c.stride + 1;
      Tensor x = leaf({N, c.cin, c.hw, c.hw}, c.input_grad, gen), w = leaf({c.cout, c.cin, c.k, c.k}, true, gen);
      Tensor g = ones({N, c.cout, ho, ho});
      const double fwd = 2.0 * N * c.cout * ho * ho * c.cin * c.k * c.k;
      Row r{name + " " + std::to_string(c.cin) + "->" + std::to_string(c.cout) + " k" + std::to_string(c.k) + "/" +
                std::to_string(c.stride) + " " + std::to_string(c.hw) + "px",
            "call", 1, (c.input_grad ? 3 : 2) * fwd};
      r.t = time_it(
          [&] {
            clear_grads({&x, &w});
            conv2d(x, w, Tensor(), c.stride, c.pad).backward(g);
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }
    if (want_op("op_linear")) {
      Generator gen(11);
      const int64_t M = 4096, K = 384, N = 1536;
      Tensor x = leaf({M, K}, true, gen), w = leaf({N, K}, true, gen), b = leaf({N}, true, gen);
      Tensor g = ones({M, N});
      Row r{"op_linear 4096x384 -> 1536", "call", 1, 3 * 2.0 * M * K * N};
      r.t = time_it(
          [&] {
            clear_grads({&x, &w, &b});
            linear(x, w, b).backward(g);
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }
    if (want_op("op_lstm")) {
      Generator gen(12);
      const int64_t T = 35, B = 20, H = 200;
      nn::LSTM lstm(H, H, 1, 0.0, &gen);
      Tensor x = leaf({T, B, H}, true, gen), g = ones({T, B, H});
      TensorList params = lstm.parameters();
      Row r{"op_lstm 1x200 t35 b20", "call", 1, 3 * double(T * B) * 2 * 4.0 * H * (2 * H)};
      r.t = time_it(
          [&] {
            x.zero_grad();
            for (auto& p : params) p.zero_grad();
            lstm.forward(x, nn::LstmState{}).first.backward(g);
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }
    if (want_op("op_attention")) {
      Generator gen(13);
      const int64_t B = 32, Hh = 12, T = 128, D = 32;
      Tensor q = leaf({B, Hh, T, D}, true, gen), k = leaf({B, Hh, T, D}, true, gen), v = leaf({B, Hh, T, D}, true, gen);
      Tensor mask = ones({B, 1, 1, T}, Options(DType::I64)), g = ones({B, Hh, T, D});
      Row r{"op_attention b32 h12 t128 d32", "call", 1, 3 * 2.0 * 2.0 * B * Hh * T * T * D};
      r.t = time_it(
          [&] {
            clear_grads({&q, &k, &v});
            scaled_dot_product_attention(q, k, v, mask, 0.1, true, 0.0, &gen).backward(g);
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }
    if (want_op("op_layernorm")) {
      Generator gen(14);
      const int64_t M = 4096, C = 384;
      Tensor x = leaf({M, C}, true, gen), w = leaf({C}, true, gen), b = leaf({C}, true, gen), g = ones({M, C});
      Row r{"op_layernorm 4096x384", "call", 1, 0};
      r.bytes = 4.0 * M * C * 5;  // forward reads x, writes y; backward reads x and dy, writes dx
      r.t = time_it(
          [&] {
            clear_grads({&x, &w, &b});
            layer_norm(x, {C}, w, b, 1e-12).backward(g);
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }
    if (want_op("op_softmax_ce")) {
      Generator gen(15);
      const int64_t N = 700, V = 33278;
      Tensor logits = leaf({N, V}, true, gen);
      Tensor tgt = randint(0, V, {N}, Options(DType::I64), &gen);
      Row r{"op_softmax_ce 700x33278", "call", 1, 0};
      r.bytes = 4.0 * N * V * 3;  // forward reads the logits; backward reads them again and writes the gradient
      r.t = time_it(
          [&] {
            logits.zero_grad();
            cross_entropy(logits, tgt).backward();
          },
          warmup, repeats);
      r.rss = peak_rss_mib();
      rows.push_back(r);
    }

    double peak_gflops = 0;
    for (auto& r : rows)
      if (r.name.rfind("sgemm", 0) == 0) peak_gflops = r.flops / r.t.median_s / 1e9;
    std::printf("%-44s %10s %12s %10s %10s %9s\n", "workload", "median ms", "items/s", "GFLOP/s", "of sgemm",
                "RSS MiB");
    json jr = json::array();
    for (auto& r : rows) {
      double gf = r.flops / r.t.median_s / 1e9, gbs = r.bytes / r.t.median_s / 1e9;
      if (r.flops > 0)
        std::printf("%-44s %10.2f %12.1f %10.1f %9.0f%% %9.0f\n", r.name.c_str(), r.t.median_s * 1e3,
                    r.items / r.t.median_s, gf, peak_gflops > 0 ? 100 * gf / peak_gflops : 0.0, r.rss);
      else
        std::printf("%-44s %10.2f %12.1f %7.1f GB/s %9s %9.0f\n", r.name.c_str(), r.t.median_s * 1e3,
                    r.items / r.t.median_s, gbs, "-", r.rss);
      jr.push_back({{"workload", r.name}, {"unit", r.unit}, {"median_s", r.t.median_s}, {"min_s", r.t.min_s},
                    {"times_s", r.t.all}, {"items_per_second", r.items / r.t.median_s}, {"gflops", gf},
                    {"gbytes_per_s", gbs}, {"peak_rss_mib", r.rss}});
    }
    app::write_json_atomic(json_path, {{"framework", "ember"}, {"date", app::utc_timestamp()}, {"warmup", warmup},
                                       {"repeats", repeats}, {"results", jr}});
    std::printf("written to %s (peak RSS is the process's, cumulative over the workloads run so far)\n",
                json_path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
