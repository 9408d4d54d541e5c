// apps/q2_wikitext.cpp — Q2: an LSTM language model trained on WikiText-2; test perplexity.
//
// The recipe is pytorch/examples word_language_model's: SGD at a high learning rate with
// gradient clipping, BPTT windows over B parallel streams with the hidden state carried across
// windows (and detached between them), the learning rate divided by 4 whenever validation
// perplexity stops improving, the best validation checkpoint kept. Test perplexity is
// exp(mean NLL per token) over the whole test stream at evaluation batch size 10.
//
// The training run itself is apps/common/q2_train.h (q3_mnli_lstm trains its LM with it too).
//
//   q2_wikitext --preset quick --data ../shared/data      (2-core CPU, < 5 minutes)
//   q2_wikitext --preset hour --data ../shared/data       (2×200 tied, full epochs: ~1 hour on 2 cores)
//   q2_wikitext --preset medium --device cuda             (2×650, the GPU run)
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>

#include "apps/common/app_util.h"
#include "apps/common/q2_train.h"

using namespace ember;
using nlohmann::json;

int main(int argc, char** argv) {
  CLI::App app{"ember Q2: an LSTM language model on WikiText-2; reports test perplexity"};
  q2::LmTrainConfig o;
  std::string data, preset = "quick", json_path = "results/q2_wikitext.json";
  app.add_option("--data", data, "data folder holding wikitext-2/ (default: $EMBER_DATA)");
  app.add_option("--preset", preset,
                 "quick (2-core CPU, < 5 min) | hour (2x200 tied, full epochs, ~1 h on 2 cores) | medium (2x650) | "
                 "large (2x1500)")
      ->check(CLI::IsMember({"quick", "hour", "medium", "large"}));
  app.add_option("--emsize", o.emsize, "embedding size");
  app.add_option("--nhid", o.nhid, "LSTM hidden size");
  app.add_option("--layers", o.layers, "LSTM layers");
  app.add_option("--dropout", o.dropout, "dropout on embeddings, between layers and before the decoder");
  app.add_flag("--tied", o.tied, "tie decoder and encoder weights (needs emsize == nhid)");
  app.add_option("--epochs", o.epochs, "training epochs");
  app.add_option("--bptt", o.bptt, "BPTT window length");
  app.add_option("--batch-size", o.batch_size, "parallel training streams");
  app.add_option("--eval-batch-size", o.eval_batch_size, "parallel streams for validation and test (example: 10)");
  app.add_option("--train-tokens", o.train_tokens, "train on this prefix of the training stream (0: all)");
  app.add_option("--lr", o.lr, "initial learning rate (SGD: 20 as the example; AdamW: try 1e-3)");
  app.add_option("--clip", o.clip, "clip the global gradient norm to this (0: off)");
  app.add_option("--optimizer", o.optimizer, "sgd | adamw")->check(CLI::IsMember({"sgd", "adamw"}));
  app.add_option("--weight-decay", o.weight_decay, "AdamW's decoupled weight decay");
  app.add_option("--device", o.device, "cpu | cuda | cuda:N");
  app.add_option("--seed", o.seed, "random seed (initialisation, dropout)");
  app.add_flag("!--no-progress", o.progress, "no progress bars (the per-epoch lines stay)");
  app.add_option("--save", o.save, "checkpoint folder (best validation model, vocab, config)");
  app.add_option("--resume", o.resume, "start from the weights in this checkpoint folder");
  app.add_flag("--continue", o.continue_run, "continue the interrupted run of --save from its last finished epoch "
               "(<save>-resume/: weights, optimizer, lr, RNG): the same results as a run never interrupted");
  app.add_option("--json", json_path, "where to write the results JSON");
  CLI11_PARSE(app, argc, argv);

  try {
    q2::apply_lm_preset(preset, o, [&](const char* flag) { return app.count(flag) > 0; });
    if (o.optimizer == "adamw" && app.count("--lr") == 0) o.lr = 1e-3;
    q2::validate(o);
    app::Stopwatch clock;
    std::string wt_dir = q2::find_wikitext_dir(app::resolve_data_dir(data));
    q2::LmTrainResult r = q2::train_wikitext_lm(wt_dir, o);

    json result = {{"study", "Q2 WikiText-2 LSTM language model"},
                   {"valid_perplexity", r.valid_perplexity},
                   {"test_perplexity", r.test_perplexity},
                   {"train_tokens", r.train_tokens},
                   {"train_tokens_available", r.train_tokens_available},
                   {"valid_tokens", r.valid_tokens},
                   {"test_tokens", r.test_tokens},
                   {"vocab_size", r.vocab_size},
                   {"model", r.model},
                   {"preset", preset},
                   {"optimizer", o.optimizer},
                   {"lr", o.lr},
                   {"clip", o.clip},
                   {"bptt", o.bptt},
                   {"batch_size", o.batch_size},
                   {"eval_batch_size", o.eval_batch_size},
                   {"epochs", o.epochs},
                   {"tokens_per_second", r.tokens_per_second},
                   {"device", r.device},
                   {"seed", o.seed},
                   {"seconds", clock.seconds()},
                   {"checkpoint", o.save},
                   {"history", r.history},
                   {"date", app::utc_timestamp()}};
    app::write_json_atomic(json_path, result);
    const double valid_ppl = r.valid_perplexity, test_ppl = r.test_perplexity;
    std::printf("\n%-28s %10s\n", "", "perplexity");
    std::printf("%-28s %10.2f\n", "valid (best epoch)", valid_ppl);
    std::printf("%-28s %10.2f\n", "test", test_ppl);
    std::printf("%-28s %10.2f\n", "anchor: PyTorch example", 87.17);
    std::printf("  (2x200 tied LSTM, 40 epochs; a random model scores ~%lld, the vocabulary size)\n",
                static_cast<long long>(r.vocab_size));
    std::printf("GRADE: test perplexity %.2f (%s the 87.17 anchor; goal <= 90, moonshot <= 80)\n", test_ppl,
                test_ppl <= 87.17 ? "beats" : "above");
    std::printf("results written to %s; checkpoint in %s (%.0f s)\n", json_path.c_str(), o.save.c_str(),
                clock.seconds());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "q2_wikitext: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
