// apps/common/q2_train.h — Q2's language-model training run, shared by q2_wikitext (the study)
// and q3_mnli_lstm (which trains the quick LM itself when no --lm checkpoint is given).
//
// The recipe is pytorch/examples word_language_model's: SGD at a high learning rate with
// gradient clipping, BPTT windows over B parallel streams with the hidden state carried across
// windows (and detached between them), the learning rate divided by 4 whenever validation
// perplexity stops improving, the best validation checkpoint kept (saved to `save` with
// models::save_lstm_lm). Test perplexity is exp(mean NLL per token) over the whole test stream,
// measured with the best checkpoint reloaded from disk.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace ember::q2 {

struct LmTrainConfig {
  std::string save = "checkpoints/q2", resume, optimizer = "sgd", device = "cpu";
  int64_t emsize = 200, nhid = 200, layers = 2, epochs = 6, bptt = 35, batch_size = 20, eval_batch_size = 10;
  int64_t train_tokens = 0;  // 0: the whole training stream
  double dropout = 0.2, lr = 20, clip = 0.25, weight_decay = 0;
  bool tied = false;
  bool progress = true;         // false: no progress bars (--no-progress); the per-epoch lines stay
  bool test_perplexity = true;  // false: skip the final test pass (q3 needs only the checkpoint)
  // After each epoch the whole training state (weights, optimizer state, lr, best validation loss,
  // RNG position, history) goes to <save>-resume/, atomically; continue_run picks an interrupted
  // run up from there and gives bit-identical results to a run never interrupted.
  bool continue_run = false;
  uint64_t seed = 1111;
};

// The presets' names, for --help and checks: quick, hour, medium, large.
const char* lm_preset_names();
// Fills every field of `cfg` that a preset sets and `given(flag)` says the user did not give
// ("--emsize", "--epochs", …: the q2_wikitext flag names). Error on an unknown preset.
void apply_lm_preset(const std::string& preset, LmTrainConfig& cfg, const std::function<bool(const char*)>& given);
// Checks every option before anything slow starts; error naming the first bad one.
void validate(const LmTrainConfig& cfg);

struct LmTrainResult {
  double valid_perplexity = 0, test_perplexity = 0, tokens_per_second = 0, seconds = 0;  // test: NaN when skipped
  int64_t train_tokens = 0, train_tokens_available = 0, valid_tokens = 0, test_tokens = 0, vocab_size = 0;
  std::string device;                                // Device::str() of the run
  nlohmann::json model;                              // LstmLMConfig::to_json()
  nlohmann::json history = nlohmann::json::array();  // per epoch: lr, train/valid ppl, tok/s
};

// Loads WikiText-2 from `wikitext_dir`, trains, saves the best validation model to cfg.save and
// measures its test perplexity (unless cfg.test_perplexity is false). Prints the corpus, the model, one line per epoch and progress bars.
LmTrainResult train_wikitext_lm(const std::string& wikitext_dir, const LmTrainConfig& cfg);

// data_dir/wikitext-2 when it exists, else data_dir itself.
std::string find_wikitext_dir(const std::string& data_dir);

}  // namespace ember::q2
