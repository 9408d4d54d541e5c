// wikitext.cpp — Python-exact word splitting of UTF-8 text, the Vocab, the WikiText-2 corpus
// loader and the word_language_model batching helpers.
#include "datasets/wikitext.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/files.h"

namespace ember::datasets {

namespace fs = std::filesystem;

namespace {

// Python's str.isspace() code points (what str.split() with no argument splits on).
bool is_py_space(uint32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes the UTF-8 sequence at s[i] into cp and returns its length, or 0 if it is not valid
// UTF-8 as Python's strict decoder sees it (overlong forms, surrogates, > U+10FFFF rejected).
size_t decode_utf8(const std::string& s, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t b0 = b(0);
  if (b0 < 0x80) return cp = b0, 1;
  size_t len;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) len = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) len = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) len = 4, cp = b0 & 0x07, min = 0x10000;
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), "wikitext: cannot open ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  EMBER_CHECK(!in.bad(), "wikitext: error reading ", path);
  return ss.str();
}

// Calls fn(line) for every line as Python's text mode splits them (\n, \r\n, \r end a line;
// a last line without terminator still counts; an empty file has no lines).
template <class F>
void for_each_line(const std::string& text, F fn) {
  size_t start = 0, line_no = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    fn(text.substr(start, i - start), line_no++);
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) fn(text.substr(start), line_no);
}

}  // namespace

// ---- Vocab ----

int64_t Vocab::add(const std::string& word) {
  auto it = ids_.find(word);
  if (it != ids_.end()) return it->second;
  const int64_t id = size();
  words_.push_back(word);
  ids_.emplace(word, id);
  return id;
}

int64_t Vocab::id(const std::string& word) const {
  auto it = ids_.find(word);
  EMBER_CHECK(it != ids_.end(), "Vocab::id: '", word, "' is not in the vocabulary (", size(), " words)");
  return it->second;
}

int64_t Vocab::encode(const std::string& word) const {
  auto it = ids_.find(word);
  return it != ids_.end() ? it->second : unk_id();
}

const std::string& Vocab::word(int64_t id) const {
  EMBER_CHECK(id >= 0 && id < size(), "Vocab::word: id ", id, " out of range [0, ", size(), ")");
  return words_[id];
}

int64_t Vocab::unk_id() const {
  auto it = ids_.find(kUnk);
  EMBER_CHECK(it != ids_.end(), "Vocab: no '", kUnk, "' entry (", size(), " words), so unknown words cannot be encoded");
  return it->second;
}

std::string Vocab::text() const {
  std::string out;
  for (int64_t i = 0; i < size(); ++i) {
    const std::string& w = words_[i];
    EMBER_CHECK(!w.empty() && w.find_first_of("\r\n") == std::string::npos, "Vocab: word ", i,
                " is empty or holds a line break; cannot write one word per line");
    out += w;
    out += '\n';
  }
  return out;
}

void Vocab::save(const std::string& path) const { io::write_file_atomic(path, text()); }

Vocab Vocab::load(const std::string& path) {
  const std::string text = read_whole_file(path);
  Vocab v;
  for_each_line(text, [&](std::string line, size_t line_no) {
    const std::string where = detail::str(path, ":", line_no);
    const std::vector<std::string> words = split_words(line, where);
    EMBER_CHECK(words.size() == 1 && words[0] == line, "Vocab::load: ", where,
                ": expected exactly one word with no whitespace, found '", line, "'");
    EMBER_CHECK(!v.contains(line), "Vocab::load: ", where, ": '", line, "' appears twice (first as id ", v.id(line), ")");
    v.add(line);
  });
  return v;
}

// ---- tokenising ----

std::vector<std::string> split_words(const std::string& line, const std::string& where) {
  std::vector<std::string> words;
  size_t i = 0, word_start = std::string::npos;
  while (i < line.size()) {
    uint32_t cp = 0;
    const size_t len = decode_utf8(line, i, cp);
    EMBER_CHECK(len > 0, where, ": invalid UTF-8 at byte ", i, " of the line (0x", std::hex,
                int(static_cast<uint8_t>(line[i])), ")");
    if (is_py_space(cp)) {
      if (word_start != std::string::npos) words.push_back(line.substr(word_start, i - word_start));
      word_start = std::string::npos;
    } else if (word_start == std::string::npos) {
      word_start = i;
    }
    i += len;
  }
  if (word_start != std::string::npos) words.push_back(line.substr(word_start));
  return words;
}

std::vector<int64_t> tokenize_file(const std::string& path, Vocab& vocab, bool grow) {
  const std::string text = read_whole_file(path);
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 5);
  for_each_line(text, [&](const std::string& line, size_t line_no) {
    for (const std::string& w : split_words(line, detail::str(path, ":", line_no)))
      ids.push_back(grow ? vocab.add(w) : vocab.encode(w));
    // <eos> enters the vocabulary where data.py adds it: after the first line's words.
    ids.push_back(grow ? vocab.add(Vocab::kEos) : vocab.encode(Vocab::kEos));
  });
  return ids;
}

Corpus load_wikitext(const std::string& dir) {
  const std::vector<std::string> wiki = {"wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"};
  const std::vector<std::string> wlm = {"train.txt", "valid.txt", "test.txt"};
  auto complete = [&](const std::vector<std::string>& names) {
    return std::all_of(names.begin(), names.end(), [&](const std::string& n) { return fs::is_regular_file(fs::path(dir) / n); });
  };
  Corpus c;
  std::vector<std::string> names;
  if (complete(wiki)) names = wiki, c.layout = "wikitext";
  else if (complete(wlm)) names = wlm, c.layout = "word_language_model";
  else {
    std::string found;
    for (const auto* set : {&wiki, &wlm})
      for (const auto& n : *set)
        if (fs::is_regular_file(fs::path(dir) / n)) found += (found.empty() ? "" : ", ") + n;
    EMBER_FAIL("load_wikitext: ", dir, " has neither the WikiText-2 files (wiki.train.tokens, wiki.valid.tokens, ",
               "wiki.test.tokens) nor the word_language_model files (train.txt, valid.txt, test.txt); found: ",
               found.empty() ? "none of them" : found);
  }
  c.train = tokenize_file((fs::path(dir) / names[0]).string(), c.vocab);
  c.valid = tokenize_file((fs::path(dir) / names[1]).string(), c.vocab);
  c.test = tokenize_file((fs::path(dir) / names[2]).string(), c.vocab);
  return c;
}

// ---- batching ----

Tensor batchify(const std::vector<int64_t>& ids, int64_t batch_size) {
  EMBER_CHECK(batch_size >= 1, "batchify: batch_size must be >= 1, got ", batch_size);
  const int64_t steps = static_cast<int64_t>(ids.size()) / batch_size;
  EMBER_CHECK(steps >= 1, "batchify: ", ids.size(), " tokens cannot fill one row of batch_size ", batch_size);
  std::vector<int64_t> out(static_cast<size_t>(steps * batch_size));
  for (int64_t t = 0; t < steps; ++t)
    for (int64_t b = 0; b < batch_size; ++b) out[t * batch_size + b] = ids[b * steps + t];
  return from_vector<int64_t>(out, {steps, batch_size});
}

BpttWindow bptt_window(const Tensor& data, int64_t i, int64_t bptt) {
  EMBER_CHECK(data.dim() == 2, "bptt_window: expected batchified data (n_steps, batch), got ", data.shape());
  EMBER_CHECK(bptt >= 1, "bptt_window: bptt must be >= 1, got ", bptt);
  const int64_t n = data.size(0);
  EMBER_CHECK(i >= 0 && i < n - 1, "bptt_window: start row ", i, " leaves no target; valid starts are [0, ", n - 1,
              ") for ", n, " rows");
  const int64_t t = std::min(bptt, n - 1 - i);
  return {data.narrow(0, i, t), data.narrow(0, i + 1, t)};
}

int64_t sample_bptt(Generator& gen, int64_t base, double p, double sd) {
  EMBER_CHECK(base >= 1, "sample_bptt: base must be >= 1, got ", base);
  EMBER_CHECK(p >= 0.0 && p <= 1.0 && sd >= 0.0, "sample_bptt: need 0 <= p <= 1 and sd >= 0, got p = ", p, ", sd = ", sd);
  const double mean = gen.uniform() < p ? static_cast<double>(base) : static_cast<double>(base) / 2.0;
  const auto len = static_cast<int64_t>(mean + sd * gen.normal());  // truncates toward zero, as int()
  return std::max<int64_t>(5, len);
}

}  // namespace ember::datasets
