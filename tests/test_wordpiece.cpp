// datasets::WordPieceTokenizer against Hugging Face's slow BertTokenizer (transformers 4.30.2,
// uncased vocabulary), with the answers written by scripts/fixtures/wordpiece.py:
//   - hard strings (accents, CJK, kana, hangul, emoji, controls, zero-width characters, specials
//     inside text, long words, Turkish İ, ß, Greek, combining marks, full-width forms), lower-
//     casing and cased, and 300 random strings: tokens and ids exactly equal;
//   - pair / single encodings with longest_first truncation, down to max_length 0..3;
//   - every code point: flags and lower-case + NFD + Mn-strip equal to Python's, except the code
//     points Unicode 15.0 added (utf8proc 2.8) that Python 3.11 (Unicode 14.0) treats as unassigned;
//   - every pair of MNLI dev_matched, dev_mismatched and SNLI dev: input_ids exactly equal (the
//     texts come from $EMBER_DATA; skipped with a visible message when it is not set).
// The hard strings run without $EMBER_DATA on a vocabulary rebuilt from the fixture's subset
// (every entry HF looked up and found, at its real line; fillers elsewhere), and on the real
// vocab.txt too when it is there. Plus hand-made vocabularies for the greedy match, the
// truncation rule, padding, bad vocabulary files and invalid UTF-8.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include <utf8proc.h>

#include "tests/test_util.h"
#include "datasets/wordpiece.h"
#include "tests/fixtures.h"

using namespace ember;
using namespace ember::datasets;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

using test::TempDir;
using test::write_text;
using test::error_of;
using test::has;




// A whole gzip file (tests/fixtures/*.gz) as a string.
std::string read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE_MESSAGE(f != nullptr, "missing ", path, "; run /usr/bin/python3 scripts/fixtures/wordpiece.py");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  REQUIRE(n == 0);
  gzclose(f);
  return out;
}

// Text for failure messages: printable ASCII as is, everything else as \u{...}.
std::string escaped(const std::string& s) {
  std::u32string cps;
  std::ostringstream os;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? b : b & (0x3F >> (len - 1));
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0x20 && cp < 0x7F) os << static_cast<char>(cp);
    else os << "\\u{" << std::hex << cp << std::dec << "}";
    i += len;
  }
  return os.str();
}
std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + escaped(x);
  return s;
}
std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

// EMBER_DATA/<rel> if set and present, else "" after a visible SKIPPED message.
std::string real_data_file(const std::string& rel, const std::string& what) {
  const char* root = std::getenv("EMBER_DATA");
  if (!root || !*root) {
    MESSAGE("SKIPPED real-data check (", what, "): EMBER_DATA not set");
    return "";
  }
  const fs::path p = fs::path(root) / rel;
  if (!fs::is_regular_file(p)) {
    MESSAGE("SKIPPED real-data check (", what, "): ", p.string(), " not found");
    return "";
  }
  return p.string();
}

// The fixture's vocabulary subset written at the real line numbers, "[fill_<id>]" elsewhere
// (bracketed, so never a WordPiece candidate of punctuation-split text).
std::string subset_vocab_file(const TempDir& d) {
  const json& fx = test::fixture("wordpiece_hard.json");
  std::vector<std::string> lines(fx.at("vocab_size").get<size_t>());
  for (size_t i = 0; i < lines.size(); ++i) lines[i] = "[fill_" + std::to_string(i) + "]";
  for (const auto& e : fx.at("vocab_subset")) lines.at(e.at(0).get<size_t>()) = e.at(1).get<std::string>();
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  const std::string path = d.file("vocab_subset.txt");
  write_text(path, text);
  return path;
}

// Every fixture case of `list` through tok: tokens and ids must equal HF's; returns mismatches.
int check_strings(const WordPieceTokenizer& tok, const json& list, const std::string& what) {
  int bad = 0;
  for (const auto& c : list) {
    const std::string text = c.at("text").get<std::string>();
    const auto want_tokens = c.at("tokens").get<std::vector<std::string>>();
    const auto want_ids = c.at("ids").get<std::vector<int64_t>>();
    const auto got_tokens = tok.tokenize(text);
    const auto got_ids = tok.encode(text);
    if (got_tokens != want_tokens || got_ids != want_ids) {
      if (++bad <= 10)
        FAIL_CHECK(what, ": '", escaped(text), "'\n  HF:   ", join(want_tokens), "\n  ours: ", join(got_tokens),
                   "\n  HF ids:   ", join(want_ids), "\n  our ids:  ", join(got_ids));
    }
  }
  MESSAGE(what, ": ", list.size() - bad, " of ", list.size(), " strings equal to HF");
  return bad;
}

void check_fixture_strings(const WordPieceTokenizer& lower, const WordPieceTokenizer& cased, const std::string& vocab) {
  const json& fx = test::fixture("wordpiece_hard.json");
  CHECK(check_strings(lower, fx.at("hard"), "hard strings, " + vocab) == 0);
  CHECK(check_strings(cased, fx.at("hard_cased"), "hard strings, do_lower_case=false, " + vocab) == 0);
  CHECK(check_strings(lower, fx.at("fuzz"), "random strings, " + vocab) == 0);
  int bad = 0;
  for (const auto& c : fx.at("pairs")) {
    const std::string a = c.at("a").get<std::string>();
    const int64_t max_length = c.at("max_length").get<int64_t>();
    const BertEncoding e = c.at("b").is_null() ? lower.encode_single(a, max_length)
                                               : lower.encode_pair(a, c.at("b").get<std::string>(), max_length);
    const bool same = e.input_ids == c.at("input_ids").get<std::vector<int64_t>>() &&
                      e.token_type_ids == c.at("token_type_ids").get<std::vector<int64_t>>() &&
                      e.attention_mask == c.at("attention_mask").get<std::vector<int64_t>>();
    if (!same) {
      ++bad;
      FAIL_CHECK("encoding of '", escaped(a), "' / ", c.at("b").dump(), " max_length ", max_length, ", ", vocab,
                 "\n  HF:   ", c.at("input_ids").dump(), " types ", c.at("token_type_ids").dump(), "\n  ours: [",
                 join(e.input_ids), "] types [", join(e.token_type_ids), "]");
    }
  }
  MESSAGE("pair/single encodings with truncation, ", vocab, ": ", fx.at("pairs").size() - bad, " of ",
          fx.at("pairs").size(), " equal to HF");
}

// A small hand-made vocabulary: ids are line numbers.
WordPieceTokenizer tiny(const TempDir& d, bool lower = true) {
  const std::string path = d.file("tiny_vocab.txt");
  write_text(path,
             "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"  // 0-4
             "un\nuna\n##ffable\n##aff\n##able\n"     // 5-9
             "a\nb\nc\nd\ne\n"                        // 10-14
             "x\n##x\n.\n!\nhello\n");                // 15-19
  return WordPieceTokenizer::from_vocab_file(path, lower);
}

}  // namespace

// ================================ Hugging Face parity ================================

TEST_CASE("datasets wordpiece: hard strings, random strings and truncated encodings equal HF BertTokenizer") {
  TempDir d;
  const std::string subset = subset_vocab_file(d);
  const auto lower = WordPieceTokenizer::from_vocab_file(subset, true);
  const auto cased = WordPieceTokenizer::from_vocab_file(subset, false);
  CHECK(lower.vocab_size() == test::fixture("wordpiece_hard.json").at("vocab_size").get<int64_t>());
  check_fixture_strings(lower, cased, "fixture's vocabulary subset");

  const std::string vocab = real_data_file("bert/vocab.txt", "wordpiece on the full bert vocab.txt");
  if (vocab.empty()) return;
  const auto full = WordPieceTokenizer::from_vocab_file(vocab, true);
  const auto full_cased = WordPieceTokenizer::from_vocab_file(vocab, false);
  CHECK(full.vocab_size() == 30522);
  CHECK(full.pad_id() == 0);
  CHECK(full.unk_id() == 100);
  CHECK(full.cls_id() == 101);
  CHECK(full.sep_id() == 102);
  CHECK(full.token_id("[MASK]") == 103);
  CHECK(full.id_to_token(7592) == "hello");
  check_fixture_strings(full, full_cased, "full vocab.txt");
}

TEST_CASE("datasets wordpiece: per-code-point rules equal Python's for every code point") {
  const json fx = json::parse(read_gzip(std::string(EMBER_FIXTURES) + "/wordpiece_codepoints.json.gz"));
  std::vector<std::pair<uint32_t, unsigned>> runs;  // [first code point, flags]
  for (const auto& r : fx.at("runs")) runs.emplace_back(r.at(0).get<uint32_t>(), r.at(1).get<unsigned>());
  std::unordered_map<uint32_t, std::u32string> mapped;
  for (const auto& m : fx.at("mapped")) {
    std::u32string s;
    for (const auto& c : m.at(1)) s.push_back(c.get<char32_t>());
    mapped.emplace(m.at(0).get<uint32_t>(), s);
  }
  constexpr unsigned kPyUnassigned = 32;  // the fixture's flag for category Cn
  size_t run = 0, checked = 0, bad = 0, newer = 0;
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    while (run + 1 < runs.size() && runs[run + 1].first <= cp) ++run;
    const unsigned want = runs[run].second;
    const unsigned got = datasets::detail::wordpiece_char_flags(cp);
    auto it = mapped.find(cp);
    const std::u32string want_map = it != mapped.end() ? it->second : std::u32string(1, cp);
    const std::u32string got_map = datasets::detail::wordpiece_lower_strip(cp);
    ++checked;
    if (got == (want & ~kPyUnassigned) && got_map == want_map) continue;
    // Unassigned to Python (Unicode 14.0) but assigned in utf8proc's Unicode: HF drops it, we do not.
    if ((want & kPyUnassigned) && !(got & datasets::detail::kWpDropped)) {
      ++newer;
      continue;
    }
    if (++bad <= 10)
      FAIL_CHECK("U+", std::hex, cp, std::dec, ": flags ", got, " (Python ", want, "), lower+strip ",
                 got_map.size(), " code points (Python ", want_map.size(), ")");
  }
  CHECK(checked == 0x110000 - 0x800);
  CHECK(bad == 0);
  MESSAGE(checked, " code points checked; ", newer, " differ only because they are unassigned in Python's Unicode ",
          fx.at("python_unicode").get<std::string>(), " and assigned in utf8proc's ", std::string(utf8proc_unicode_version()), " (utf8proc ", std::string(utf8proc_version()), ")");
}

TEST_CASE("datasets wordpiece: every MNLI/SNLI dev pair encodes to HF's input_ids") {
  const std::string vocab = real_data_file("bert/vocab.txt", "wordpiece on MNLI/SNLI dev");
  if (vocab.empty()) return;
  const auto tok = WordPieceTokenizer::from_vocab_file(vocab, true);
  const fs::path root = fs::path(vocab).parent_path().parent_path();
  // One line per pair: Hugging Face's (input_ids, token_type_ids) as a 64-bit FNV-1a digest (each value
  // as 4 little-endian bytes), so the fixture holds nothing from which the dataset's text can be read.
  std::istringstream fx(read_gzip(std::string(EMBER_FIXTURES) + "/wordpiece_nli_digests.txt.gz"));
  auto digest = [](const BertEncoding& e) {
    uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&](int64_t v) {
      const uint32_t u = static_cast<uint32_t>(v);
      for (int k = 0; k < 4; ++k) h = (h ^ ((u >> (8 * k)) & 0xffu)) * 0x100000001b3ull;
    };
    for (int64_t v : e.input_ids) mix(v);
    for (int64_t v : e.token_type_ids) mix(v);
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return std::string(buf);
  };
  std::string header;
  size_t total = 0, bad = 0, tokens = 0;
  double seconds = 0;
  while (std::getline(fx, header)) {
    REQUIRE_MESSAGE(header.rfind("# ", 0) == 0, "wordpiece_nli_digests.txt.gz: expected a section header, got '",
                    header.substr(0, 40), "'");
    std::istringstream h(header.substr(2));
    std::string mode, file;
    size_t count = 0;
    h >> mode >> file >> count;
    const int64_t max_length = mode == "full" ? 0 : std::stoll(mode.substr(mode.find('=') + 1));
    std::ifstream in(root / file);
    REQUIRE_MESSAGE(in.good(), "cannot open ", (root / file).string());
    std::string jl, want;
    for (size_t k = 0; k < count; ++k) {
      REQUIRE_MESSAGE(std::getline(in, jl), file, " has fewer than ", count, " pairs");
      REQUIRE(std::getline(fx, want));
      const json row = json::parse(jl);
      const std::string premise = row.at("premise").get<std::string>(), hypothesis = row.at("hypothesis").get<std::string>();
      const auto t0 = std::chrono::steady_clock::now();
      const BertEncoding e = tok.encode_pair(premise, hypothesis, max_length);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++total;
      tokens += e.input_ids.size();
      const bool mask_ok = e.attention_mask == std::vector<int64_t>(e.input_ids.size(), 1);
      if (mask_ok && digest(e) == want) continue;
      if (++bad <= 5)
        FAIL_CHECK(file, " pair ", k + 1, " (", mode, "): '", escaped(premise), "' / '", escaped(hypothesis),
                   "'\n  HF digest ", want, ", ours ", digest(e), " for ids ", join(e.input_ids),
                   "\n  (HF's ids: run scripts/fixtures/wordpiece.py's tokenizer on this pair)");
    }
    if (mode == "full") {
      // The whole file was read: it must have exactly the pairs the fixture was made from.
      CHECK_MESSAGE(!std::getline(in, jl), file, " has more than the fixture's ", count, " pairs");
    }
  }
  CHECK(total == 29489 + 1500);
  CHECK(bad == 0);
  MESSAGE("MNLI/SNLI dev: ", bad, " mismatches out of ", total, " encodings (29,489 pairs untruncated + 1,500 at "
          "max_length 64), ", tokens, " tokens, tokenized in ", seconds, " s");
}

// ================================ algorithm, by hand ================================

TEST_CASE("datasets wordpiece: greedy longest match, ## continuations, [UNK], 100-character limit") {
  TempDir d;
  const auto tok = tiny(d);
  CHECK(tok.vocab_size() == 20);
  CHECK(tok.pad_id() == 0);
  CHECK(tok.unk_id() == 1);
  CHECK(tok.cls_id() == 2);
  CHECK(tok.sep_id() == 3);
  // "una" beats "un" (longest first); then "ffable" as ##ffable, not ##aff ##able.
  CHECK(tok.tokenize("unaffable") == std::vector<std::string>{"una", "##ffable"});
  CHECK(tok.encode("UNAFFABLE!") == std::vector<int64_t>{6, 7, 18});
  // One uncovered part makes the whole word [UNK]; its neighbours are unaffected.
  CHECK(tok.tokenize("hello unaffq a.b") == std::vector<std::string>{"hello", "[UNK]", "a", ".", "b"});
  std::vector<int64_t> hundred(100, 16);
  hundred[0] = 15;
  CHECK(tok.encode(std::string(100, 'x')) == hundred);
  CHECK(tok.encode(std::string(101, 'x')) == std::vector<int64_t>{1});
  // Specials stand alone between spaces only; [MASK] too, although it is not required.
  CHECK(tok.encode("[CLS] a [SEP]") == std::vector<int64_t>{2, 10, 3});
  CHECK(tok.encode("[MASK]") == std::vector<int64_t>{4});
  CHECK(tok.encode("a[SEP]") == std::vector<int64_t>{10, 1, 1, 1});  // a [ sep ]: none in this vocab
  CHECK(tok.encode("").empty());
  CHECK(tok.encode(" \t\n ").empty());
  CHECK(tok.token_id("##aff") == 8);
  CHECK(has(error_of([&] { tok.token_id("zzz"); }), "'zzz' is not in the vocabulary (20 tokens)"));
  CHECK(has(error_of([&] { tok.id_to_token(20); }), "id 20 out of range [0, 20)"));
  CHECK(has(error_of([&] { tok.id_to_token(-1); }), "out of range"));
  // Cased: no lower-casing, so "HELLO" is not "hello".
  const auto cased = tiny(d, false);
  CHECK(cased.encode("hello HELLO") == std::vector<int64_t>{19, 1});
}

TEST_CASE("datasets wordpiece: longest_first truncation of pairs and singles") {
  TempDir d;
  const auto tok = tiny(d);
  const std::string a = "a b c d", b = "e b";  // 4 and 2 tokens: 9 with the specials
  auto pair = [&](int64_t max_length) { return tok.encode_pair(a, b, max_length).input_ids; };
  CHECK(pair(0) == std::vector<int64_t>{2, 10, 11, 12, 13, 3, 14, 11, 3});
  CHECK(pair(-5) == pair(0));
  CHECK(pair(9) == pair(0));
  CHECK(pair(8) == std::vector<int64_t>{2, 10, 11, 12, 3, 14, 11, 3});  // a is longer: from a
  CHECK(pair(7) == std::vector<int64_t>{2, 10, 11, 3, 14, 11, 3});      // a and b tie at 2
  CHECK(pair(6) == std::vector<int64_t>{2, 10, 11, 3, 14, 3});          // ties go to b
  CHECK(pair(5) == std::vector<int64_t>{2, 10, 3, 14, 3});
  CHECK(pair(4) == std::vector<int64_t>{2, 10, 3, 3});
  CHECK(pair(3) == std::vector<int64_t>{2, 3, 3});
  CHECK(pair(1) == std::vector<int64_t>{2, 3, 3});  // HF cannot go below the three specials
  const BertEncoding e = tok.encode_pair(a, b, 7);
  CHECK(e.token_type_ids == std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1});
  CHECK(e.attention_mask == std::vector<int64_t>(7, 1));
  // b longer than a: b loses tokens until they tie.
  CHECK(tok.encode_pair("a", "b c d e", 6).input_ids == std::vector<int64_t>{2, 10, 3, 11, 12, 3});

  const BertEncoding s = tok.encode_single(a, 4);
  CHECK(s.input_ids == std::vector<int64_t>{2, 10, 11, 3});
  CHECK(s.token_type_ids == std::vector<int64_t>(4, 0));
  CHECK(s.attention_mask == std::vector<int64_t>(4, 1));
  CHECK(tok.encode_single(a, 3).input_ids == std::vector<int64_t>{2, 10, 3});
  CHECK(tok.encode_single(a, 0).input_ids.size() == 6);
  // max_length 2: a would have to go entirely; HF then leaves it whole (and logs an error).
  CHECK(tok.encode_single(a, 2).input_ids.size() == 6);
  CHECK(tok.encode_single("", 1).input_ids == std::vector<int64_t>{2, 3});
}

TEST_CASE("datasets wordpiece: pad_bert_batch pads to the longest with pad id, type 0, mask 0") {
  TempDir d;
  const auto tok = tiny(d);
  std::vector<BertEncoding> encs = {tok.encode_pair("a b", "c", 0), tok.encode_single("d", 0)};
  const BertBatch batch = pad_bert_batch(encs, tok.pad_id());
  for (const Tensor* t : {&batch.input_ids, &batch.token_type_ids, &batch.attention_mask}) {
    CHECK(t->shape() == Shape{2, 6});
    CHECK(t->dtype() == DType::I64);
    CHECK(t->device().is_cpu());
  }
  CHECK(batch.input_ids.to_vector<int64_t>() == std::vector<int64_t>{2, 10, 11, 3, 12, 3, 2, 13, 3, 0, 0, 0});
  CHECK(batch.token_type_ids.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0});
  CHECK(batch.attention_mask.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0});
  CHECK(pad_bert_batch(encs, 7).input_ids.to_vector<int64_t>()[11] == 7);

  CHECK(has(error_of([] { pad_bert_batch({}, 0); }), "no encodings"));
  BertEncoding broken = encs[0];
  broken.attention_mask.pop_back();
  CHECK(has(error_of([&] { pad_bert_batch({encs[1], broken}, 0); }),
            "encoding 1 has 6 input_ids but 6 token_type_ids and 5 attention_mask entries"));
}

// ================================ bad input ================================

TEST_CASE("datasets wordpiece: bad vocabulary files give clear errors") {
  TempDir d;
  const std::string specials = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
  CHECK(has(error_of([&] { WordPieceTokenizer::from_vocab_file(d.file("absent.txt")); }),
            "cannot open vocabulary file " + d.file("absent.txt")));
  write_text(d.file("empty.txt"), "");
  CHECK(has(error_of([&] { WordPieceTokenizer::from_vocab_file(d.file("empty.txt")); }), "is empty"));
  write_text(d.file("dup.txt"), specials + "a\nb\na\n");
  const std::string dup = error_of([&] { WordPieceTokenizer::from_vocab_file(d.file("dup.txt")); });
  CHECK(has(dup, "dup.txt:7: token 'a' appears twice (first on line 5)"));
  write_text(d.file("nospecial.txt"), "[PAD]\n[CLS]\na\n");
  const std::string miss = error_of([&] { WordPieceTokenizer::from_vocab_file(d.file("nospecial.txt")); });
  CHECK(has(miss, "(3 tokens) lacks the special token(s) [UNK], [SEP]"));
  write_text(d.file("lower.txt"), "[pad]\n[unk]\n[cls]\n[sep]\n");  // case matters
  CHECK(has(error_of([&] { WordPieceTokenizer::from_vocab_file(d.file("lower.txt")); }),
            "lacks the special token(s) [UNK], [CLS], [SEP], [PAD]"));
  write_text(d.file("utf8.txt"), specials + "ok\nbad\xc3(\n");
  CHECK(has(error_of([&] { WordPieceTokenizer::from_vocab_file(d.file("utf8.txt")); }), "invalid UTF-8 at byte 30"));

  // As HF's load_vocab: \r\n and \r end lines too, only the line break is removed (a trailing
  // space stays part of the token), a last line without a break counts, an empty line is "".
  write_text(d.file("crlf.txt"), "[PAD]\r\n[UNK]\r[CLS]\n\n[SEP]\na \nb");
  const auto tok = WordPieceTokenizer::from_vocab_file(d.file("crlf.txt"));
  CHECK(tok.vocab_size() == 7);
  CHECK(tok.unk_id() == 1);
  CHECK(tok.cls_id() == 2);
  CHECK(tok.token_id("") == 3);
  CHECK(tok.sep_id() == 4);
  CHECK(tok.token_id("a ") == 5);
  CHECK(tok.token_id("b") == 6);
  CHECK(tok.encode("a b") == std::vector<int64_t>{1, 6});  // "a" is not "a "
}

TEST_CASE("datasets wordpiece: invalid UTF-8 text is an error, never a crash") {
  TempDir d;
  const auto tok = tiny(d);
  for (const std::string& bad : {std::string("a \xff b"), std::string("\xc3"), std::string("x\xc3("),
                                std::string("\xc0\xaf"),          // overlong '/'
                                std::string("\xe0\x80\xaf"),      // overlong, 3 bytes
                                std::string("\xed\xa0\x80"),      // surrogate U+D800
                                std::string("\xf4\x90\x80\x80"),  // above U+10FFFF
                                std::string("\xf8\x88\x80\x80\x80"), std::string("ok\x80")}) {
    const std::string err = error_of([&] { tok.encode(bad); });
    CHECK_MESSAGE(has(err, "invalid UTF-8 at byte"), escaped(bad), ": ", err);
    CHECK(has(error_of([&] { tok.encode_pair("a", bad, 8); }), "invalid UTF-8"));
  }
  CHECK(has(error_of([&] { tok.encode("a \xff b"); }), "invalid UTF-8 at byte 2 of 5 (0xff)"));
  // Valid edge cases decode: NUL (dropped), U+FFFF (a non-character, but valid), U+10FFFF.
  CHECK(tok.encode(std::string("a\0b", 3)) == std::vector<int64_t>{1});  // "ab" is not in the vocabulary
  CHECK(tok.encode("\xef\xbf\xbf a \xf4\x8f\xbf\xbf").size() == 1);      // both dropped (Cn), "a" stays
}
