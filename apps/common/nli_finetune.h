// apps/common/nli_finetune.h — the NLI fine-tuning loop that Q3 (LSTM) and Q4 (BERT) share:
// length-bucketed batches, one training epoch (loss, clipping, optimizer and schedule steps, a
// progress bar with loss, accuracy and pairs/s), evaluation into a 3×3 confusion matrix, and
// fit(): epochs with model selection on the validation split (the best epoch's weights are kept).
//
// The model side is one callback, LogitsFn: given the rows of a split (indices into it) it returns
// logits (B, 3) for those pairs, building the batch itself (token ids, masks, cached features …).
// So the same loop trains a BERT, an LSTM encoder or a head on cached features.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/nn/module.h"
#include "engine/optim/optim.h"
#include "engine/random.h"

namespace ember::nli {

// logits (B, 3) for rows of a split; `train` says whether dropout etc. should be active (the
// callback sets the module's mode).
using LogitsFn = std::function<Tensor(const std::vector<int64_t>& rows, bool train)>;

// Batches of indices 0..n-1 whose lengths are close, so padding costs little. With a generator:
// shuffle, cut into pools of 50 batches, sort each pool by length, cut into batches and shuffle the
// batch order (every pair once per epoch, reproducible from the generator's seed). Without one:
// sorted by length (evaluation; the result does not depend on the order).
std::vector<std::vector<int64_t>> length_bucketed_batches(const std::vector<int64_t>& lengths, int64_t batch_size,
                                                          Generator* gen);

// 3×3 confusion matrix, rows gold, columns predicted, classes in datasets/nli.h's order.
struct Confusion {
  std::array<std::array<int64_t, 3>, 3> m{};
  void add(int gold, int pred) { ++m.at(gold).at(pred); }
  int64_t total() const;
  double accuracy() const;
  std::array<double, 3> per_class_accuracy() const;  // recall of each gold class
  nlohmann::json to_json() const;
  std::string table() const;  // a readable matrix with per-class accuracy
};

struct EvalResult {
  Confusion confusion;
  double loss = 0;  // mean cross-entropy
  double seconds = 0, pairs_per_second = 0;
  double accuracy() const { return confusion.accuracy(); }
  nlohmann::json to_json() const;
};

// Logits for every row in eval mode without a graph; labels[i] in 0..2.
EvalResult evaluate(const LogitsFn& logits, const std::vector<int>& labels, const std::vector<int64_t>& lengths,
                    int64_t batch_size, const std::string& label, bool progress = true);

struct TrainConfig {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  int64_t eval_batch_size = 64;
  double clip = 1.0;  // max gradient L2 norm; <= 0: none
  bool progress = true;     // progress bars
  bool epoch_lines = true;  // one summary line per epoch on stderr (fit)
  // Resumable fits. With state_dir set, fit writes its whole training state there after every epoch,
  // as one folder replaced atomically (io::write_dir_atomic): the weights, the best epoch's weights,
  // the optimizer state, the scheduler's step, both generators' positions (batch order and dropout)
  // and the history. With resume too, fit first continues from that folder when it holds a state
  // whose `run` matches (the caller's settings plus fit's own: epochs, batch size, clip, the splits'
  // sizes and a digest of their labels and lengths) and gives the numbers of a fit never stopped; a
  // finished fit returns at once with its best weights. A state of other settings is an error.
  std::string state_dir;
  nlohmann::json run;  // the caller's settings that the numbers depend on
  bool resume = false;
};

// The state folder of one named fit under `root`: root/<label with every character that is not a
// letter or digit replaced by '_'>, e.g. state_dir_for("ck-resume", "frozen ESIM") = "ck-resume/frozen_ESIM".
std::string state_dir_for(const std::string& root, const std::string& label);

struct EpochResult {
  double loss = 0, accuracy = 0, pairs_per_second = 0, seconds = 0;
  int64_t steps = 0;
};

// One pass over the training rows: zero_grad, cross-entropy, backward, clip `params`, step, and
// the scheduler (when given) after every step.
EpochResult train_epoch(const LogitsFn& logits, const std::vector<int>& labels, const std::vector<int64_t>& lengths,
                        optim::Optimizer& opt, optim::LrScheduler* sched, const TensorList& params,
                        const TrainConfig& cfg, const std::string& label, Generator& gen);

// The splits a fit sees: labels and lengths of train and valid (row i of each).
struct SplitView {
  std::vector<int> labels;
  std::vector<int64_t> lengths;
};

struct FitResult {
  int64_t best_epoch = 0;  // 1-based; 0 when no epoch ran
  double best_valid_accuracy = -1;
  double seconds = 0;
  nlohmann::json history = nlohmann::json::array();  // per epoch: train loss/acc, valid acc, pairs/s
};

// cfg.epochs epochs of train_epoch on `train_logits`, each followed by evaluate on `valid_logits`;
// the weights of `model` at the best validation accuracy are restored at the end (a copy of its
// state_dict is kept in memory). on_epoch (optional) runs after each epoch with its 1-based number.
// See TrainConfig::state_dir for stopping and resuming.
FitResult fit(nn::Module& model, const LogitsFn& train_logits, const LogitsFn& valid_logits, const SplitView& train,
              const SplitView& valid, optim::Optimizer& opt, optim::LrScheduler* sched, const TrainConfig& cfg,
              const std::string& label, Generator& gen, const std::function<void(int64_t)>& on_epoch = nullptr);

// Every parameter of `model` snapshot (cloned, detached) / written back in place.
nn::NamedTensors snapshot(const nn::Module& model);
void restore(nn::Module& model, const nn::NamedTensors& snap);

}  // namespace ember::nli
