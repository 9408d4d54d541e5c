// wikitext.h — WikiText-2 (word level) for language modelling, tokenised exactly as
// pytorch/examples word_language_model/data.py does it, plus that example's batching.
//
// Tokens: every line of a file becomes line.split() + ['<eos>'] — Python's split() on any
// Unicode whitespace, lines ended by \n, \r\n or \r as Python's text mode reads them — so an
// empty line yields just <eos>. Ids: words are numbered in order of first appearance over train,
// then valid, then test (WikiText-2: 33,278 types; 2,088,628 / 217,646 / 245,569 tokens).
//
// Batching (data.py's batchify / main.py's get_batch): the token stream is cut into batch_size
// contiguous columns, (n_steps, batch_size), each column one stream; a BPTT window takes rows
// i..i+T as input and rows i+1..i+T+1 as target. sample_bptt gives AWD-LSTM's randomised T.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/random.h"
#include "engine/tensor.h"

namespace ember::datasets {

// word ↔ id, ids dense from 0 in order of insertion.
class Vocab {
 public:
  static constexpr const char* kUnk = "<unk>";
  static constexpr const char* kEos = "<eos>";

  // The word's id, adding it at the end if it is new (data.py's add_word).
  int64_t add(const std::string& word);
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  bool contains(const std::string& word) const { return ids_.count(word) != 0; }
  // The word's id; error if absent.
  int64_t id(const std::string& word) const;
  // The word's id, or unk_id() for a word not in the vocabulary.
  int64_t encode(const std::string& word) const;
  const std::string& word(int64_t id) const;
  // The id of "<unk>"; error if the vocabulary has none.
  int64_t unk_id() const;
  const std::vector<std::string>& words() const { return words_; }

  // One word per line, in id order, UTF-8. Written to a temporary file in the same directory,
  // then renamed over `path`, so a reader never sees half a vocabulary.
  void save(const std::string& path) const;  // atomically
  std::string text() const;                  // what save writes: one word per line
  // Reads what save wrote; empty lines, words with whitespace and duplicates are errors.
  static Vocab load(const std::string& path);

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int64_t> ids_;
};

// The words of one line as Python's str.split() gives them (UTF-8 in; error on invalid UTF-8,
// as Python's utf-8 decoding would raise). `where` names the line in messages.
std::vector<std::string> split_words(const std::string& line, const std::string& where = "text");

// The ids of a whole file, `<eos>` after every line. With grow = true new words are added to
// vocab (building it); with grow = false they map to <unk> (encoding with a fixed vocabulary).
std::vector<int64_t> tokenize_file(const std::string& path, Vocab& vocab, bool grow = true);

struct Corpus {
  Vocab vocab;
  std::vector<int64_t> train, valid, test;
  // Which file names the directory had: "wikitext" (wiki.{train,valid,test}.tokens, as the
  // WikiText-2 zip ships them) or "word_language_model" ({train,valid,test}.txt, pytorch/examples).
  std::string layout;
};

// Finds the layout in `dir`, builds the vocabulary over train, valid, test in that order, and
// encodes the three splits. Error listing the names looked for if neither layout is complete.
Corpus load_wikitext(const std::string& dir);

// ids → int64 CPU tensor (n_steps, batch_size), n_steps = ids.size() / batch_size; the tail that
// does not fill a row is dropped; column b holds ids[b*n_steps, (b+1)*n_steps). As data.py.
Tensor batchify(const std::vector<int64_t>& ids, int64_t batch_size);

struct BpttWindow {
  Tensor input;   // (T, B) rows i .. i+T-1 of data
  Tensor target;  // (T, B) rows i+1 .. i+T: the next token of each input position
};
// get_batch of word_language_model: T = min(bptt, n − 1 − i), 0 ≤ i < n − 1. Both are views of
// `data` (no copy). The example flattens the target to (T·B); reshape({-1}) gives that.
BpttWindow bptt_window(const Tensor& data, int64_t i, int64_t bptt);

// AWD-LSTM's variable BPTT length (salesforce/awd-lstm-lm main.py): with probability p the mean
// is `base`, else base / 2; the length is then int(N(mean, sd)) (truncated toward zero, as
// Python's int()), and at least 5. Draws gen.uniform() then gen.normal(). AWD-LSTM also scales
// the learning rate by seq_len / base for that batch; that is the trainer's business.
int64_t sample_bptt(Generator& gen, int64_t base, double p = 0.95, double sd = 5.0);

}  // namespace ember::datasets
