// nli.cpp — the NLI reader (JSON lines and header-named tsv, plain or gzip, streamed line by
// line so memory follows the pairs kept, not the file) and the fixed train / valid / test splits.
#include "datasets/nli.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <numeric>
#include <unordered_set>

#include "engine/error.h"
#include "engine/random.h"

namespace ember::datasets {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kLabelNames[kNliClasses] = {"entailment", "neutral", "contradiction"};
constexpr size_t kChunk = size_t(1) << 16;  // bytes per fread / gzread

// 0..2 for a label name, -1 for unlabelled ("-", ""), -2 for anything else.
int label_code(const std::string& s) {
  for (int i = 0; i < kNliClasses; ++i)
    if (s == kLabelNames[i]) return i;
  return s == "-" || s.empty() ? -1 : -2;
}

// Length of the valid UTF-8 sequence at s[i], or 0 (overlong forms, surrogates, > U+10FFFF and
// stray continuation bytes are invalid, as in Python's strict decoder).
size_t utf8_length(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t b0 = b(0);
  if (b0 < 0x80) return 1;
  size_t len;
  uint32_t cp, min;
  if ((b0 & 0xE0) == 0xC0) len = 2, cp = b0 & 0x1F, min = 0x80;
  else if ((b0 & 0xF0) == 0xE0) len = 3, cp = b0 & 0x0F, min = 0x800;
  else if ((b0 & 0xF8) == 0xF0) len = 4, cp = b0 & 0x07, min = 0x10000;
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : len;
}

void check_utf8(const std::string& s, const std::string& where, const char* field) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_length(s, i);
    EMBER_CHECK(len > 0, where, ": ", field, " is not valid UTF-8 (byte ", i, " is 0x", std::hex,
                int(static_cast<uint8_t>(s[i])), ")");
    i += len;
  }
}

// s for an error message: invalid UTF-8 and control bytes as \xNN, cut after 80 bytes, so a
// corrupt field cannot garble the terminal or flood the message.
std::string printable(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  while (i < s.size() && out.size() < 80) {
    const size_t len = utf8_length(s, i);
    const auto b = static_cast<uint8_t>(s[i]);
    if (len == 0 || b < 0x20 || b == 0x7f) {
      out += std::string("\\x") + hex[b >> 4] + hex[b & 15];
      ++i;
    } else {
      out.append(s, i, len);
      i += len;
    }
  }
  return i < s.size() ? out + "..." : out;
}

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\f\v") == std::string::npos;
}

// A file's lines, plain or gzip'd (decided by the magic 0x1f 0x8b, not the name), without their
// \n or \r\n. Owns its handle; line_no() is the 1-based number of the line last returned.
class LineReader {
 public:
  explicit LineReader(const std::string& path) : path_(path), buf_(kChunk) {
    std::error_code ec;
    EMBER_CHECK(fs::exists(path, ec), path, ": no such file");
    EMBER_CHECK(fs::is_regular_file(path, ec), path, ": not a regular file");
    plain_ = std::fopen(path.c_str(), "rb");
    EMBER_CHECK(plain_ != nullptr, path, ": cannot open for reading");
    uint8_t m[2] = {0, 0};
    gzip_ = std::fread(m, 1, 2, plain_) == 2 && m[0] == 0x1f && m[1] == 0x8b;
    if (gzip_) {
      std::fclose(plain_);
      plain_ = nullptr;
      gz_ = gzopen(path.c_str(), "rb");
      EMBER_CHECK(gz_ != nullptr, path, ": zlib cannot open this gzip file");
      gzbuffer(gz_, 1 << 17);
    } else {
      std::rewind(plain_);
    }
  }
  ~LineReader() {
    if (plain_) std::fclose(plain_);
    if (gz_) gzclose(gz_);
  }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  int64_t line_no() const { return line_no_; }
  bool any_bytes() const { return any_bytes_; }

  // The next line into `line`; false at the end. A last line without '\n' still counts.
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      const char* start = buf_.data() + pos_;
      const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
      const size_t take = nl ? static_cast<size_t>(nl - start) : end_ - pos_;
      EMBER_CHECK(line.size() + take <= kMaxNliLineBytes, path_, ":", line_no_ + 1, ": line is longer than ",
                  kMaxNliLineBytes, " bytes; this is not an NLI text file (or it is corrupt)");
      line.append(start, take);
      pos_ += take;
      if (nl) {
        ++pos_;
        break;
      }
      if (!fill()) {
        if (line.empty()) return false;
        break;
      }
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++line_no_;
    return true;
  }

 private:
  // Refills buf_; false at the end of the (decompressed) stream. A corrupt or cut gzip stream
  // throws with zlib's words.
  bool fill() {
    pos_ = end_ = 0;
    if (!gzip_) {
      end_ = std::fread(buf_.data(), 1, buf_.size(), plain_);
      EMBER_CHECK(!std::ferror(plain_), path_, ":", line_no_ + 1, ": read error");
    } else {
      // A stream cut short: zlib first hands out all it could inflate and reports the missing end
      // on the next call, so the line named is the one cut. Corrupt data: zlib drops the chunk,
      // so the line named is the first one not read, and the damage is at or after it.
      const int got = gzread(gz_, buf_.data(), static_cast<unsigned>(buf_.size()));
      int err = Z_OK;
      const char* msg = gzerror(gz_, &err);
      EMBER_CHECK(got > 0 || (got == 0 && err == Z_OK), path_, ":", line_no_ + 1,
                  ": gzip stream is corrupt or cut short (zlib: ", msg && *msg ? msg : "?", ")");
      end_ = static_cast<size_t>(got);
    }
    any_bytes_ = any_bytes_ || end_ > 0;
    return end_ > 0;
  }

  std::string path_;
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
  int64_t line_no_ = 0;
  bool gzip_ = false, any_bytes_ = false;
  std::FILE* plain_ = nullptr;
  gzFile gz_ = nullptr;
};

enum class Layout { unknown, jsonl, tsv };

// From the name, a trailing .gz looked through; unknown for other extensions (decided by content).
Layout layout_from_name(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
  const std::string ext = fs::path(name).extension().string();
  if (ext == ".jsonl" || ext == ".json") return Layout::jsonl;
  if (ext == ".tsv" || ext == ".txt") return Layout::tsv;
  return Layout::unknown;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> cols;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    cols.push_back(line.substr(start, tab - start));
  cols.push_back(line.substr(start));
  return cols;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + printable(x);
  return s;
}

// ---- JSON lines ----

const std::string& json_text(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  EMBER_CHECK(it != j.end(), where, ": missing field \"", key, "\"");
  EMBER_CHECK(it->is_string(), where, ": field \"", key, "\" must be a string, found ", it->type_name());
  return it->get_ref<const std::string&>();
}

// The label of a JSON row: a name (or "-"), or Hugging Face's integer ClassLabel (-1 unlabelled).
int json_label(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  EMBER_CHECK(it != j.end(), where, ": missing field \"", key, "\"");
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    const int code = label_code(s);
    EMBER_CHECK(code >= -1, where, ": unknown label \"", printable(s), "\" in field \"", key,
                "\"; expected entailment, neutral, contradiction or \"-\" (unlabelled)");
    return code;
  }
  if (it->is_number_unsigned()) {  // may exceed int64 and would wrap to a "valid" code
    const uint64_t v = it->get<uint64_t>();
    EMBER_CHECK(v < uint64_t(kNliClasses), where, ": integer label ", v, " in field \"", key,
                "\"; expected 0 (entailment), 1 (neutral), 2 (contradiction) or -1 (unlabelled)");
    return static_cast<int>(v);
  }
  if (it->is_number_integer()) {
    const int64_t v = it->get<int64_t>();
    EMBER_CHECK(v >= -1 && v < kNliClasses, where, ": integer label ", v, " in field \"", key,
                "\"; expected 0 (entailment), 1 (neutral), 2 (contradiction) or -1 (unlabelled)");
    return static_cast<int>(v);
  }
  EMBER_FAIL(where, ": field \"", key, "\" must be a label name or an integer code, found ", it->type_name());
}

NliPair parse_json_row(const std::string& line, const std::string& where) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    EMBER_FAIL(where, ": not a valid JSON line (one object per line expected): ", e.what());
  }
  EMBER_CHECK(j.is_object(), where, ": expected a JSON object, found ", j.type_name());
  const bool simple = j.contains("premise") || j.contains("hypothesis");
  const bool official = j.contains("sentence1") || j.contains("sentence2");
  if (!simple && !official) {
    std::vector<std::string> keys;
    for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
    EMBER_FAIL(where, ": expected the fields premise, hypothesis, label (or sentence1, sentence2, gold_label); found ",
               keys.empty() ? std::string("no fields") : join(keys));
  }
  NliPair p;
  p.premise = json_text(j, simple ? "premise" : "sentence1", where);
  p.hypothesis = json_text(j, simple ? "hypothesis" : "sentence2", where);
  p.label = json_label(j, j.contains("gold_label") ? "gold_label" : "label", where);
  if (j.contains("genre")) p.genre = json_text(j, "genre", where);
  return p;
}

// ---- tsv ----

struct TsvColumns {
  size_t count = 0;
  size_t premise = 0, hypothesis = 0, label = 0;
  int64_t genre = -1;
  std::string label_name;
};

TsvColumns parse_tsv_header(const std::string& line, const std::string& where) {
  const std::vector<std::string> names = split_tabs(line);
  auto find = [&](std::initializer_list<const char*> wanted, bool required) -> int64_t {
    for (const char* w : wanted) {
      const auto n = std::count(names.begin(), names.end(), w);
      EMBER_CHECK(n <= 1, where, ": tsv header names column \"", w, "\" ", n, " times");
      if (n == 1) return std::find(names.begin(), names.end(), w) - names.begin();
    }
    if (!required) return -1;
    std::string alts;
    for (const char* w : wanted) alts += std::string(alts.empty() ? "\"" : " (or \"") + w + (alts.empty() ? "\"" : "\")");
    const bool csv = names.size() == 1 && line.find(',') != std::string::npos;
    EMBER_FAIL(where, ": tsv header has no column ", alts, "; its ", names.size(), " columns are: ", join(names),
               csv ? " (commas but no tabs: this looks like CSV, which is not read; GLUE tsv is tab-separated)" : "");
  };
  TsvColumns c;
  c.count = names.size();
  c.premise = static_cast<size_t>(find({"sentence1", "premise"}, true));
  c.hypothesis = static_cast<size_t>(find({"sentence2", "hypothesis"}, true));
  c.label = static_cast<size_t>(find({"gold_label", "label"}, true));
  c.genre = find({"genre"}, false);
  c.label_name = names[c.label];
  return c;
}

NliPair parse_tsv_row(const std::string& line, const TsvColumns& c, const std::string& where) {
  const std::vector<std::string> cols = split_tabs(line);
  EMBER_CHECK(cols.size() == c.count, where, ": expected ", c.count, " tab-separated columns as in the header, found ",
              cols.size());
  NliPair p;
  p.premise = cols[c.premise];
  p.hypothesis = cols[c.hypothesis];
  p.label = label_code(cols[c.label]);
  EMBER_CHECK(p.label >= -1, where, ": unknown label \"", printable(cols[c.label]), "\" in column \"", c.label_name,
              "\"; expected entailment, neutral, contradiction or \"-\" (unlabelled)");
  if (c.genre >= 0) p.genre = cols[static_cast<size_t>(c.genre)];
  return p;
}

// ---- splits ----

// Uniform in [0, m) from 64-bit draws: values below 2^64 mod m are rejected so that every residue
// has the same number of accepted preimages (no modulo bias).
uint64_t uniform_below(Generator& gen, uint64_t m) {
  const uint64_t reject_below = (uint64_t(0) - m) % m;  // 2^64 mod m
  for (;;) {
    const uint64_t u = gen.next_u64();
    if (u >= reject_below) return u % m;
  }
}

// k of the indices 0..n-1, chosen as the first k steps of a Fisher–Yates shuffle, returned sorted.
std::vector<int64_t> draw_indices(int64_t n, int64_t k, uint64_t seed) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t(0));
  Generator gen(seed);
  for (int64_t i = 0; i < k; ++i)
    std::swap(idx[i], idx[i + static_cast<int64_t>(uniform_below(gen, static_cast<uint64_t>(n - i)))]);
  idx.resize(static_cast<size_t>(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

json histogram_json(const std::vector<NliPair>& pairs) {
  const auto h = nli_label_histogram(pairs);
  json j = json::object();
  for (int i = 0; i < kNliClasses; ++i) j[kLabelNames[i]] = h[i];
  return j;
}

// Pairs of `a` whose exact (premise, hypothesis) also occurs in `b`.
int64_t shared_pairs(const std::vector<NliPair>& a, const std::vector<NliPair>& b) {
  std::unordered_set<std::string> keys;
  keys.reserve(b.size());
  for (const auto& p : b) keys.insert(p.premise + '\0' + p.hypothesis);
  int64_t n = 0;
  for (const auto& p : a) n += keys.count(p.premise + '\0' + p.hypothesis) ? 1 : 0;
  return n;
}

std::string thousands(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

std::string pad_left(const std::string& s, size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

}  // namespace

// ---- labels ----

const char* nli_label_name(int label) {
  EMBER_CHECK(label >= 0 && label < kNliClasses, "nli_label_name: label ", label,
              " is not 0 (entailment), 1 (neutral) or 2 (contradiction)");
  return kLabelNames[label];
}

int nli_label_from_string(const std::string& s) {
  const int code = label_code(s);
  EMBER_CHECK(code >= -1, "nli_label_from_string: unknown label \"", printable(s),
              "\"; expected entailment, neutral, contradiction, or \"-\" / \"\" (unlabelled)");
  return code;
}

json nli_label_map() {
  json j = json::object();
  for (int i = 0; i < kNliClasses; ++i) j[kLabelNames[i]] = i;
  return j;
}

// ---- reading ----

NliFile read_nli(const std::string& path) {
  LineReader in(path);
  NliFile f;
  f.path = path;
  Layout layout = layout_from_name(path);
  TsvColumns cols;
  bool have_header = false;
  int64_t rows = 0;
  std::string line;
  while (in.next(line)) {
    // A UTF-8 byte-order mark (Windows editors) would otherwise stick to the first field.
    if (in.line_no() == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (is_blank(line)) continue;
    const std::string where = detail::str(path, ":", in.line_no());
    if (layout == Layout::unknown) layout = line[line.find_first_not_of(" \t")] == '{' ? Layout::jsonl : Layout::tsv;
    if (layout == Layout::tsv && !have_header) {
      cols = parse_tsv_header(line, where);
      have_header = true;
      continue;
    }
    NliPair p = layout == Layout::jsonl ? parse_json_row(line, where) : parse_tsv_row(line, cols, where);
    check_utf8(p.premise, where, "premise");
    check_utf8(p.hypothesis, where, "hypothesis");
    check_utf8(p.genre, where, "genre");
    ++rows;
    if (p.label < 0) ++f.skipped_unlabelled;
    else f.pairs.push_back(std::move(p));
  }
  EMBER_CHECK(in.any_bytes(), path, ":1: empty file; expected JSON lines or a tsv header and rows");
  EMBER_CHECK(rows > 0, path, ":", in.line_no(), ": no pairs in the file",
              have_header ? " (only the tsv header)" : " (only blank lines)");
  EMBER_CHECK(!f.pairs.empty(), path, ":", in.line_no(), ": all ", rows,
              " rows are unlabelled (\"-\"); there is nothing to train or test on");
  return f;
}

std::array<int64_t, 3> nli_label_histogram(const std::vector<NliPair>& pairs) {
  std::array<int64_t, 3> h{0, 0, 0};
  for (size_t i = 0; i < pairs.size(); ++i) {
    const int l = pairs[i].label;
    EMBER_CHECK(l >= 0 && l < kNliClasses, "nli_label_histogram: pair ", i, " has label ", l, "; expected 0..2");
    ++h[static_cast<size_t>(l)];
  }
  return h;
}

// ---- splits ----

NliSplits make_nli_splits(const std::string& data_dir, const NliSplitOptions& opt) {
  const std::string test_path = (fs::path(data_dir) / "mnli" / "dev_matched.jsonl").string();
  const std::string mism_path = (fs::path(data_dir) / "mnli" / "dev_mismatched.jsonl").string();
  struct Needed { std::string path, what; };
  std::vector<Needed> needed = {
      {test_path, "MNLI dev_matched, the test set (9,815 gold pairs)"},
      {mism_path, "MNLI dev_mismatched, source of the validation draw and of part of train (9,832 gold pairs)"}};
  std::vector<std::string> train_paths = opt.train_files;
  if (train_paths.empty()) {
    const std::vector<std::pair<const char*, const char*>> snli = {
        {"dev.jsonl", "SNLI dev, part of train (9,842 pairs)"},
        {"test.jsonl", "SNLI test, part of train (9,824 pairs)"},
        {"train_subset20k.jsonl.gz", "20,000 SNLI training pairs, part of train"}};
    for (const auto& [name, what] : snli) {
      needed.push_back({(fs::path(data_dir) / "snli" / name).string(), what});
      train_paths.push_back(needed.back().path);
    }
  } else {
    for (const auto& p : opt.train_files) {
      needed.push_back({p, "a training file given in NliSplitOptions::train_files"});
      EMBER_CHECK(!same_file(p, test_path), "make_nli_splits: train file ", p, " is the test set ", test_path,
                  "; the test set is never trained on");
      EMBER_CHECK(!same_file(p, mism_path), "make_nli_splits: train file ", p, " is ", mism_path,
                  ", the source of the validation set; training on it would leak the validation pairs");
    }
  }
  std::string missing;
  for (const auto& n : needed)
    if (!fs::is_regular_file(n.path)) missing += "\n  " + n.path + " — " + n.what;
  EMBER_CHECK(missing.empty(), "make_nli_splits: missing files under ", data_dir, ":", missing,
              "\n(see shared/data/mnli/PROVENANCE.md and shared/data/snli/PROVENANCE.md)");
  EMBER_CHECK(opt.valid_size >= 0, "make_nli_splits: valid_size must be >= 0, got ", opt.valid_size);
  EMBER_CHECK(opt.mnli_repeat >= 1, "make_nli_splits: mnli_repeat must be >= 1, got ", opt.mnli_repeat);
  EMBER_CHECK(opt.mnli_repeat == 1 || opt.train_files.empty(), "make_nli_splits: mnli_repeat ", opt.mnli_repeat,
              " repeats the dev_mismatched part of the default train set, which train_files replaces; "
              "repeat a train file by listing it again instead");

  NliSplits s;
  s.seed = opt.seed;
  auto source = [&](const NliFile& f, const char* role, size_t train, size_t valid, size_t test) {
    s.sources.push_back({{"path", f.path}, {"role", role}, {"pairs", f.pairs.size()},
                         {"skipped_unlabelled", f.skipped_unlabelled}, {"train", train}, {"valid", valid}, {"test", test}});
  };

  NliFile test = read_nli(test_path);
  source(test, "test", 0, 0, test.pairs.size());
  s.test = std::move(test.pairs);

  NliFile mism = read_nli(mism_path);
  const auto n = static_cast<int64_t>(mism.pairs.size());
  EMBER_CHECK(opt.valid_size <= n, "make_nli_splits: valid_size ", opt.valid_size, " is more than the ", n,
              " pairs of ", mism_path);
  const std::vector<int64_t> chosen = draw_indices(n, opt.valid_size, opt.seed);
  std::vector<char> in_valid(static_cast<size_t>(n), 0);
  for (int64_t i : chosen) in_valid[static_cast<size_t>(i)] = 1;
  const bool rest_to_train = opt.train_files.empty();
  for (int64_t i = 0; i < n; ++i) {
    NliPair& p = mism.pairs[static_cast<size_t>(i)];
    if (in_valid[static_cast<size_t>(i)]) s.valid.push_back(std::move(p));
    else if (rest_to_train) s.train.push_back(std::move(p));
  }
  if (opt.mnli_repeat > 1) {
    const std::vector<NliPair> once = s.train;  // a copy: inserting a vector's own range into it is undefined
    for (int64_t r = 1; r < opt.mnli_repeat; ++r) s.train.insert(s.train.end(), once.begin(), once.end());
  }
  source(mism, rest_to_train ? "valid+train" : "valid", rest_to_train ? s.train.size() : 0, s.valid.size(), 0);
  if (opt.mnli_repeat > 1) s.sources.back()["repeat"] = opt.mnli_repeat;

  for (const auto& path : train_paths) {
    NliFile f = read_nli(path);
    source(f, "train", f.pairs.size(), 0, 0);
    std::move(f.pairs.begin(), f.pairs.end(), std::back_inserter(s.train));
  }
  return s;
}

json NliSplits::describe() const {
  json j;
  j["seed"] = seed;
  j["draw"] = "valid = first valid_size steps of a Fisher-Yates shuffle of the dev_mismatched indices, "
              "Philox-4x32-10 Generator(seed).next_u64() with rejection sampling, kept in file order";
  j["label_map"] = nli_label_map();
  j["splits"] = json::object();
  const std::pair<const char*, const std::vector<NliPair>*> splits[] = {{"train", &train}, {"valid", &valid}, {"test", &test}};
  for (const auto& [name, pairs] : splits)
    j["splits"][name] = {{"size", pairs->size()}, {"labels", histogram_json(*pairs)}};
  j["sources"] = sources;
  j["shared_pairs"] = {{"train_valid", shared_pairs(train, valid)},
                       {"train_test", shared_pairs(train, test)},
                       {"valid_test", shared_pairs(valid, test)}};
  return j;
}

std::string NliSplits::summary() const {
  const json d = describe();
  std::string s = "NLI splits (seed " + std::to_string(seed) + "), labels entailment / neutral / contradiction:\n";
  for (const char* name : {"train", "valid", "test"}) {
    const json& sp = d["splits"][name];
    s += "  " + (std::string(name) + "  ").substr(0, 6) + pad_left(thousands(sp["size"].get<int64_t>()), 7) + "   ";
    for (int i = 0; i < kNliClasses; ++i)
      s += (i ? " / " : "") + thousands(sp["labels"][kLabelNames[i]].get<int64_t>());
    s += "\n";
  }
  for (const json& src : sources) {
    s += "  from " + src["path"].get<std::string>() + ": " + thousands(src["pairs"].get<int64_t>()) + " pairs";
    if (src["skipped_unlabelled"].get<int64_t>() > 0)
      s += " (" + thousands(src["skipped_unlabelled"].get<int64_t>()) + " unlabelled skipped)";
    if (src.contains("repeat")) s += " (train part repeated " + std::to_string(src["repeat"].get<int64_t>()) + "x)";
    std::string to;
    for (const char* name : {"train", "valid", "test"})
      if (src[name].get<int64_t>() > 0) to += (to.empty() ? "" : ", ") + std::string(name) + " " + thousands(src[name].get<int64_t>());
    s += " -> " + (to.empty() ? std::string("unused") : to) + "\n";
  }
  const json& sh = d["shared_pairs"];
  s += "  identical (premise, hypothesis) pairs across splits: train/valid " + thousands(sh["train_valid"].get<int64_t>()) +
       ", train/test " + thousands(sh["train_test"].get<int64_t>()) + ", valid/test " +
       thousands(sh["valid_test"].get<int64_t>()) + "\n";
  return s;
}

}  // namespace ember::datasets
