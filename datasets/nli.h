// nli.h — natural language inference pairs (MultiNLI, SNLI): one reader for the layouts people
// have, and the train / valid / test splits that the Q3 (LSTM) and Q4 (BERT) apps share.
//
// Layouts read (a .gz suffix is looked through; gzip itself is recognised by its magic bytes):
//   .jsonl / .json   one JSON object per line, either {"premise","hypothesis","label"} (shared/data,
//                    Hugging Face exports) or the official {"sentence1","sentence2","gold_label"}
//                    with an optional "genre" (MultiNLI 1.0, SNLI 1.0). A string label is a name;
//                    an integer label is Hugging Face's ClassLabel code, which is ours (0/1/2, -1).
//   .tsv / .txt      tab-separated with a header row (GLUE MNLI/SNLI tsv, the official .txt files):
//                    columns found by name — sentence1 (or premise), sentence2 (or hypothesis),
//                    gold_label (or label), genre optional. No quoting, as GLUE writes them: a tab
//                    always separates, a quote is text.
//   anything else    decided by content: a first line starting with '{' is JSON lines, else tsv.
// Unlabelled rows ("-" or empty label, -1) are skipped and counted. Every problem is an ember::Error
// that starts "path:line:" and says what was expected and what was found; texts must be valid UTF-8.
//
// Why a fixed, platform-independent split: both apps must train, select and report on exactly the
// same pairs, on any machine, so their numbers can be compared. See make_nli_splits for the draw.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ember::datasets {

enum class NliLabel : int { entailment = 0, neutral = 1, contradiction = 2 };
constexpr int kNliClasses = 3;

// "entailment", "neutral", "contradiction" for 0, 1, 2; error for any other value.
const char* nli_label_name(int label);
// 0, 1, 2 for the three names (exact, lower case); -1 for "-" and "" (unlabelled); error otherwise.
int nli_label_from_string(const std::string& s);
// {"entailment":0,"neutral":1,"contradiction":2}: written into checkpoints, so a model's output
// index keeps its meaning wherever it is loaded.
nlohmann::json nli_label_map();

struct NliPair {
  std::string premise, hypothesis;
  int label = -1;      // 0..2 in everything read_nli returns
  std::string genre;   // "" when the file has none (shared/data copies, SNLI)
};

struct NliFile {
  std::string path;
  std::vector<NliPair> pairs;        // labelled pairs, in file order
  int64_t skipped_unlabelled = 0;    // rows labelled "-" / "" / -1
};

// Longest line read_nli accepts. Official jsonl lines with parse trees are a few KB; a longer
// "line" is a binary or corrupt file, and the limit keeps it from taking all memory.
constexpr size_t kMaxNliLineBytes = size_t(1) << 20;

// Reads one file in any layout above. Errors: missing or unreadable file, corrupt or cut gzip,
// empty file, a header without a needed column, a row whose column count differs from the header,
// bad JSON, a missing or mistyped field, an unknown label, invalid UTF-8, an over-long line, and a
// file whose rows are all unlabelled (nothing to train or test on).
NliFile read_nli(const std::string& path);

// Count of each label, indexed by label; error naming the pair if a label is not 0..2.
std::array<int64_t, 3> nli_label_histogram(const std::vector<NliPair>& pairs);

struct NliSplits {
  std::vector<NliPair> train, valid, test;
  // Filled by make_nli_splits, read by describe(): the seed and, per file, where its pairs went
  // ([{"path", "role", "pairs", "skipped_unlabelled", "train", "valid", "test"}]).
  uint64_t seed = 0;
  nlohmann::json sources = nlohmann::json::array();

  // Sizes, label histograms, sources, seed, the draw's algorithm and the number of exact
  // (premise, hypothesis) pairs that two splits share — for printing and results JSON.
  nlohmann::json describe() const;
  // Human-readable lines: split sizes and label histograms, then the source files.
  std::string summary() const;
};

struct NliSplitOptions {
  uint64_t seed = 20261201;  // fixed so every app and machine gets the same valid set
  int64_t valid_size = 2000;
  std::vector<std::string> train_files;  // if non-empty, REPLACES the default train set (user's MNLI train)
  // How many times the dev_mismatched pairs that are not in valid enter train (default 1). They are
  // the only MultiNLI-style pairs of the default train set (≈ 16% of it; the rest is SNLI's image
  // captions), so repeating them weights the genre-rich data the MNLI test set is drawn like. Must be
  // ≥ 1; with train_files (where the rest of dev_mismatched is unused) it must stay 1.
  int64_t mnli_repeat = 1;
};

// The splits over `data_dir` (shared/data):
//   test  = mnli/dev_matched.jsonl, all 9,815 gold pairs, file order; never for training or selection.
//   valid = valid_size pairs of mnli/dev_mismatched.jsonl, drawn with the seed, kept in file order.
//   train = the other dev_mismatched pairs, then snli/dev.jsonl, snli/test.jsonl and
//           snli/train_subset20k.jsonl.gz, each in file order (≈ 47,498 pairs; shuffle per epoch).
//           With opt.mnli_repeat = k, the dev_mismatched part comes k times in a row (7,832·k pairs).
//           With opt.train_files, train is those files instead, in the order given, and the rest
//           of dev_mismatched is left unused; a train file that is the test or valid source is an error.
// The draw: a Philox Generator (engine/random.h) seeded with opt.seed runs the first valid_size
// steps of a Fisher–Yates shuffle of the indices 0..n-1; step i swaps index i with i + r, where r is
// uniform in [0, n - i) by rejection (draw next_u64() until it is ≥ 2^64 mod m, then take it mod m),
// so the result is unbiased and the same on every platform and standard library.
// Missing files: one error naming every missing file and what it is for.
NliSplits make_nli_splits(const std::string& data_dir, const NliSplitOptions& opt = {});

}  // namespace ember::datasets
