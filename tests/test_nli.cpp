// The NLI reader and splits (datasets/nli.h): every layout (both JSON field sets, GLUE tsv, gzip,
// layout by content), unlabelled rows, each kind of malformed file with its path:line message, the
// label map and histogram, and the splits on a generated data directory. The real MNLI/SNLI files
// and splits are checked when EMBER_DATA points at shared/data, and skipped visibly when not.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "tests/test_util.h"
#include "datasets/nli.h"
#include "engine/error.h"

using namespace ember;
using namespace ember::datasets;
namespace fs = std::filesystem;

namespace {

using test::TempDir;
using test::write_text;
using test::write_gzip;
using test::read_text;
using test::error_of;
using test::has;




// The error read_nli gives for a file called `name` holding `text`.
std::string read_error(const TempDir& d, const std::string& name, const std::string& text) {
  write_text(d.file(name), text);
  return error_of([&] { read_nli(d.file(name)); });
}

std::string jl(const std::string& p, const std::string& h, const std::string& label) {
  return "{\"premise\": \"" + p + "\", \"hypothesis\": \"" + h + "\", \"label\": \"" + label + "\"}\n";
}

std::vector<std::string> premises(const std::vector<NliPair>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.premise);
  return out;
}

// EMBER_DATA, or "" after a visible SKIPPED message.
std::string real_data_root(const std::string& what) {
  const char* root = std::getenv("EMBER_DATA");
  if (!root || !*root) {
    MESSAGE("SKIPPED real-data check (", what, "): EMBER_DATA not set");
    return "";
  }
  return root;
}

}  // namespace

// ================================ labels ================================

TEST_CASE("datasets nli: label names, codes and the checkpoint label map") {
  CHECK(std::string(nli_label_name(0)) == "entailment");
  CHECK(std::string(nli_label_name(1)) == "neutral");
  CHECK(std::string(nli_label_name(2)) == "contradiction");
  CHECK(static_cast<int>(NliLabel::contradiction) == 2);
  CHECK(kNliClasses == 3);
  CHECK(nli_label_from_string("entailment") == 0);
  CHECK(nli_label_from_string("neutral") == 1);
  CHECK(nli_label_from_string("contradiction") == 2);
  CHECK(nli_label_from_string("-") == -1);
  CHECK(nli_label_from_string("") == -1);
  CHECK_THROWS_WITH_AS(nli_label_from_string("Entailment"), doctest::Contains("unknown label \"Entailment\""), Error);
  CHECK_THROWS_WITH_AS(nli_label_name(3), doctest::Contains("label 3 is not 0 (entailment)"), Error);
  CHECK_THROWS_AS(nli_label_name(-1), Error);
  CHECK(nli_label_map() == nlohmann::json::parse(R"({"entailment":0,"neutral":1,"contradiction":2})"));
  for (int i = 0; i < kNliClasses; ++i) CHECK(nli_label_map()[nli_label_name(i)] == i);
}

TEST_CASE("datasets nli: label histogram counts each label and rejects others") {
  std::vector<NliPair> v(6);
  const int labels[] = {2, 0, 2, 1, 2, 0};
  for (size_t i = 0; i < v.size(); ++i) v[i].label = labels[i];
  CHECK(nli_label_histogram(v) == std::array<int64_t, 3>{2, 1, 3});
  CHECK(nli_label_histogram({}) == std::array<int64_t, 3>{0, 0, 0});
  v[4].label = -1;
  CHECK_THROWS_WITH_AS(nli_label_histogram(v), doctest::Contains("pair 4 has label -1; expected 0..2"), Error);
}

// ================================ reading ================================

TEST_CASE("datasets nli: jsonl with premise/hypothesis/label, plain and gzip, genre, escapes") {
  TempDir d;
  const std::string text = jl("A man sleeps.", "A person rests.", "entailment") +
                           "{\"premise\": \"caf\\u00e9 \\\"noir\\\"\", \"hypothesis\": \"tab\\there\", \"label\": "
                           "\"contradiction\", \"genre\": \"fiction\"}\n" +
                           "\n" +  // a blank line is not a row
                           jl("Dogs run.", "Animals move.", "neutral");
  for (const std::string name : {"a.jsonl", "a.jsonl.gz"}) {
    CAPTURE(name);
    if (name == "a.jsonl") write_text(d.file(name), text);
    else write_gzip(d.file(name), text);
    const NliFile f = read_nli(d.file(name));
    CHECK(f.path == d.file(name));
    REQUIRE(f.pairs.size() == 3);
    CHECK(f.skipped_unlabelled == 0);
    CHECK(f.pairs[0].premise == "A man sleeps.");
    CHECK(f.pairs[0].hypothesis == "A person rests.");
    CHECK(f.pairs[0].label == 0);
    CHECK(f.pairs[0].genre.empty());
    CHECK(f.pairs[1].premise == "caf\xc3\xa9 \"noir\"");  // \u00e9 decoded to UTF-8
    CHECK(f.pairs[1].hypothesis == "tab\there");
    CHECK(f.pairs[1].label == 2);
    CHECK(f.pairs[1].genre == "fiction");
    CHECK(f.pairs[2].label == 1);
  }
}

TEST_CASE("datasets nli: official MultiNLI/SNLI jsonl (sentence1/sentence2/gold_label) and integer labels") {
  TempDir d;
  // As multinli_1.0_dev_matched.jsonl writes rows: extra fields, "-" gold labels, genre.
  write_text(d.file("multinli.jsonl"),
             R"({"annotator_labels": ["neutral"], "genre": "government", "gold_label": "neutral", "pairID": "31193n", )"
             R"("promptID": "31193", "sentence1": "Conceptually cream skimming has two basic dimensions.", )"
             R"("sentence1_binary_parse": "( ( Conceptually ( cream skimming ) ) ...", "sentence2": "Product and geography are what make cream skimming work. "})"
             "\r\n"
             R"({"annotator_labels": ["neutral", "contradiction"], "genre": "telephone", "gold_label": "-", "sentence1": "x", "sentence2": "y"})"
             "\r\n"
             R"({"genre": "slate", "gold_label": "contradiction", "sentence1": "s1", "sentence2": "s2"})");  // no final newline
  NliFile f = read_nli(d.file("multinli.jsonl"));
  REQUIRE(f.pairs.size() == 2);
  CHECK(f.skipped_unlabelled == 1);
  CHECK(f.pairs[0].premise == "Conceptually cream skimming has two basic dimensions.");
  CHECK(f.pairs[0].hypothesis == "Product and geography are what make cream skimming work. ");  // texts untrimmed
  CHECK(f.pairs[0].label == 1);
  CHECK(f.pairs[0].genre == "government");
  CHECK(f.pairs[1].premise == "s1");
  CHECK(f.pairs[1].label == 2);
  CHECK(f.pairs[1].genre == "slate");

  // Hugging Face datasets' to_json: ClassLabel integers, -1 for unlabelled.
  write_text(d.file("hf.jsonl"), "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 2, \"idx\": 0}\n"
                                 "{\"premise\": \"q\", \"hypothesis\": \"i\", \"label\": -1, \"idx\": 1}\n"
                                 "{\"premise\": \"r\", \"hypothesis\": \"j\", \"label\": 0, \"idx\": 2}\n");
  f = read_nli(d.file("hf.jsonl"));
  REQUIRE(f.pairs.size() == 2);
  CHECK(f.pairs[0].label == 2);
  CHECK(f.pairs[1].label == 0);
  CHECK(f.skipped_unlabelled == 1);
}

TEST_CASE("datasets nli: GLUE tsv, columns by header name, no quoting, gzip, CRLF, genre optional") {
  TempDir d;
  // GLUE MNLI dev_matched.tsv's 16 columns; quotes are text (GLUE writes no quoting).
  const std::string mnli =
      "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\t"
      "sentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\r\n"
      "0\t63735\t63735n\tslate\t( a )\t( b )\t(ROOT a)\t(ROOT b)\tThe new rights are nice enough\tEveryone really likes "
      "the newest benefits \tneutral\tentailment\tneutral\tneutral\tneutral\tneutral\r\n"
      "1\t91383\t91383c\tgovernment\t( c )\t( d )\t(ROOT c)\t(ROOT d)\tHe said \"hi\tShe said 'no'\tcontradiction\t\t\t\t\t"
      "contradiction\r\n"
      "2\t755\t755e\ttelephone\t( e )\t( f )\t(ROOT e)\t(ROOT f)\tx\ty\tneutral\tentailment\t\t\t\t-\r\n";
  for (const std::string name : {"dev_matched.tsv", "dev_matched.tsv.gz"}) {
    CAPTURE(name);
    if (name == "dev_matched.tsv") write_text(d.file(name), mnli);
    else write_gzip(d.file(name), mnli);
    const NliFile f = read_nli(d.file(name));
    REQUIRE(f.pairs.size() == 2);
    CHECK(f.skipped_unlabelled == 1);
    CHECK(f.pairs[0].premise == "The new rights are nice enough");
    CHECK(f.pairs[0].hypothesis == "Everyone really likes the newest benefits ");
    CHECK(f.pairs[0].label == 1);  // gold_label, not label1
    CHECK(f.pairs[0].genre == "slate");
    CHECK(f.pairs[1].premise == "He said \"hi");
    CHECK(f.pairs[1].hypothesis == "She said 'no'");
    CHECK(f.pairs[1].label == 2);
    CHECK(f.pairs[1].genre == "government");
  }
  // GLUE SNLI tsv: no genre column; an export with premise/hypothesis/label headers in another order.
  write_text(d.file("snli.tsv"),
             "index\tcaptionID\tpairID\tsentence1\tsentence2\tlabel1\tgold_label\n"
             "0\t31\t31#0\tTwo women are embracing.\tThe sisters are hugging.\tneutral\tneutral\n");
  NliFile f = read_nli(d.file("snli.tsv"));
  REQUIRE(f.pairs.size() == 1);
  CHECK(f.pairs[0].hypothesis == "The sisters are hugging.");
  CHECK(f.pairs[0].genre.empty());
  write_text(d.file("hf.tsv"), "label\thypothesis\tpremise\nentailment\th1\tp1\n");
  f = read_nli(d.file("hf.tsv"));
  REQUIRE(f.pairs.size() == 1);
  CHECK(f.pairs[0].premise == "p1");
  CHECK(f.pairs[0].hypothesis == "h1");
  CHECK(f.pairs[0].label == 0);
}

TEST_CASE("datasets nli: layout by content when the name says nothing, gzip by magic bytes") {
  TempDir d;
  write_gzip(d.file("pairs.data"), jl("p", "h", "neutral"));  // gzip'd JSON lines, neither name hints
  NliFile f = read_nli(d.file("pairs.data"));
  REQUIRE(f.pairs.size() == 1);
  CHECK(f.pairs[0].label == 1);
  write_text(d.file("pairs.other"), "\xEF\xBB\xBFsentence1\tsentence2\tgold_label\np\th\tcontradiction\n");  // BOM
  f = read_nli(d.file("pairs.other"));
  REQUIRE(f.pairs.size() == 1);
  CHECK(f.pairs[0].label == 2);
}

TEST_CASE("datasets nli: unlabelled rows are skipped and counted") {
  TempDir d;
  write_text(d.file("u.jsonl"), jl("a", "b", "-") + jl("c", "d", "entailment") + jl("e", "f", "") + jl("g", "h", "-"));
  NliFile f = read_nli(d.file("u.jsonl"));
  CHECK(f.skipped_unlabelled == 3);
  REQUIRE(f.pairs.size() == 1);
  CHECK(f.pairs[0].premise == "c");
  write_text(d.file("u.tsv"), "sentence1\tsentence2\tgold_label\na\tb\t-\nc\td\tneutral\ne\tf\t-\n");
  f = read_nli(d.file("u.tsv"));
  CHECK(f.skipped_unlabelled == 2);
  REQUIRE(f.pairs.size() == 1);
  CHECK(f.pairs[0].label == 1);
}

TEST_CASE("datasets nli: malformed JSON lines give path:line errors") {
  TempDir d;
  const std::string good = jl("p", "h", "neutral");
  std::string m = read_error(d, "bad.jsonl", good + "{\"premise\": \"a\", \"hypothesis\": \n");
  CHECK_MESSAGE(has(m, "bad.jsonl:2: not a valid JSON line"), m);
  m = read_error(d, "bad.jsonl", good + good + "[1, 2]\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:3: expected a JSON object, found array"), m);
  m = read_error(d, "bad.jsonl", "{\"premise\": \"a\", \"label\": \"neutral\"}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: missing field \"hypothesis\""), m);
  m = read_error(d, "bad.jsonl", good + "{\"sentence1\": \"a\", \"sentence2\": \"b\"}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:2: missing field \"label\""), m);
  m = read_error(d, "bad.jsonl", "{\"premise\": 7, \"hypothesis\": \"h\", \"label\": \"neutral\"}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: field \"premise\" must be a string, found number"), m);
  m = read_error(d, "bad.jsonl", good + good + jl("p", "h", "entails"));
  CHECK_MESSAGE(has(m, "bad.jsonl:3: unknown label \"entails\" in field \"label\""), m);
  m = read_error(d, "bad.jsonl", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 3}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: integer label 3"), m);
  m = read_error(d, "bad.jsonl", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 18446744073709551615}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: integer label 18446744073709551615"), m);  // not wrapped to -1
  m = read_error(d, "bad.jsonl", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 1e999}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: not a valid JSON line"), m);  // nlohmann's number overflow
  m = read_error(d, "bad.jsonl", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 1.0}\n");
  CHECK_MESSAGE(has(m, "must be a label name or an integer code, found number"), m);
  m = read_error(d, "bad.jsonl", "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": null}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: field \"label\" must be a label name or an integer code, found null"), m);
  m = read_error(d, "bad.jsonl", "{\"text\": \"x\", \"y\": 1}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:1: expected the fields premise, hypothesis, label"), m);
  CHECK_MESSAGE(has(m, "found text, y"), m);
  m = read_error(d, "bad.jsonl", good + "{\"premise\": \"caf\xff\", \"hypothesis\": \"h\", \"label\": \"neutral\"}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:2: not a valid JSON line"), m);  // nlohmann rejects ill-formed UTF-8
  m = read_error(d, "bad.jsonl", good + "{\"premise\": \"\\ud800\", \"hypothesis\": \"h\", \"label\": \"neutral\"}\n");
  CHECK_MESSAGE(has(m, "bad.jsonl:2: not a valid JSON line"), m);  // a lone surrogate escape
}

TEST_CASE("datasets nli: malformed tsv gives path:line errors") {
  TempDir d;
  std::string m = read_error(d, "bad.tsv", "sentence1\tsentence2\tlabel1\na\tb\tneutral\n");
  CHECK_MESSAGE(has(m, "bad.tsv:1: tsv header has no column \"gold_label\" (or \"label\")"), m);
  CHECK_MESSAGE(has(m, "its 3 columns are: sentence1, sentence2, label1"), m);
  m = read_error(d, "bad.tsv", "premise\tlabel\na\tneutral\n");
  CHECK_MESSAGE(has(m, "bad.tsv:1: tsv header has no column \"sentence2\" (or \"hypothesis\")"), m);
  m = read_error(d, "bad.tsv", "pairID,sentence1,sentence2,label\n1,a,b,neutral\n");
  CHECK_MESSAGE(has(m, "this looks like CSV"), m);
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\tgenre\na\tb\tneutral\tfiction\nc\td\tneutral\n");
  CHECK_MESSAGE(has(m, "bad.tsv:3: expected 4 tab-separated columns as in the header, found 3"), m);
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\na\tb\tneutral\tx\n");
  CHECK_MESSAGE(has(m, "bad.tsv:2: expected 3 tab-separated columns as in the header, found 4"), m);
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\na\tb\tneutral\nc\td\tNEUTRAL\n");
  CHECK_MESSAGE(has(m, "bad.tsv:3: unknown label \"NEUTRAL\" in column \"gold_label\""), m);
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\na\tb\tneu\xfftral\x1b[2J\n");
  CHECK_MESSAGE(has(m, "bad.tsv:2: unknown label \"neu\\xfftral\\x1b[2J\""), m);  // escaped, not raw bytes
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\na\tb\t" + std::string(500, 'n') + "\n");
  CHECK_MESSAGE(has(m, "unknown label \"" + std::string(80, 'n') + "...\""), m);  // cut short
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\tgold_label\na\tb\tneutral\tneutral\n");
  CHECK_MESSAGE(has(m, "bad.tsv:1: tsv header names column \"gold_label\" 2 times"), m);
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\na\tcaf\xc3(\tneutral\n");
  CHECK_MESSAGE(has(m, "bad.tsv:2: hypothesis is not valid UTF-8 (byte 3 is 0xc3)"), m);
  m = read_error(d, "bad.tsv", "sentence1\tsentence2\tgold_label\r\n");
  CHECK_MESSAGE(has(m, "bad.tsv:1: no pairs in the file (only the tsv header)"), m);
}

TEST_CASE("datasets nli: empty, missing, all-unlabelled, over-long and truncated gzip files") {
  TempDir d;
  std::string m = read_error(d, "empty.jsonl", "");
  CHECK_MESSAGE(has(m, "empty.jsonl:1: empty file"), m);
  m = read_error(d, "blank.jsonl", "\n\n  \n");
  CHECK_MESSAGE(has(m, "blank.jsonl:3: no pairs in the file (only blank lines)"), m);
  m = error_of([&] { read_nli(d.file("nope.jsonl")); });
  CHECK_MESSAGE(has(m, d.file("nope.jsonl") + ": no such file"), m);
  m = error_of([&] { read_nli(d.str()); });
  CHECK_MESSAGE(has(m, "not a regular file"), m);
  m = read_error(d, "dash.jsonl", jl("a", "b", "-") + jl("c", "d", "-"));
  CHECK_MESSAGE(has(m, "dash.jsonl:2: all 2 rows are unlabelled"), m);
  m = read_error(d, "long.jsonl", jl("p", "h", "neutral") + std::string(kMaxNliLineBytes + 10, 'x'));
  CHECK_MESSAGE(has(m, "long.jsonl:2: line is longer than 1048576 bytes"), m);

  // 40 rows, gzip'd, then cut: without its 8-byte trailer (all text inflates, the end is missing)
  // and in the middle of the deflate data.
  std::string text;
  for (int i = 0; i < 40; ++i) text += jl("premise number " + std::to_string(i), "hypothesis " + std::to_string(i * 7), "neutral");
  write_gzip(d.file("full.jsonl.gz"), text);
  const std::string gz = read_text(d.file("full.jsonl.gz"));
  REQUIRE(read_nli(d.file("full.jsonl.gz")).pairs.size() == 40);
  m = read_error(d, "trailer.jsonl.gz", gz.substr(0, gz.size() - 8));
  CHECK_MESSAGE(has(m, "trailer.jsonl.gz:41: gzip stream is corrupt or cut short (zlib: "), m);
  m = read_error(d, "half.jsonl.gz", gz.substr(0, gz.size() / 2));
  CHECK_MESSAGE(has(m, "half.jsonl.gz:"), m);
  CHECK_MESSAGE(has(m, ": gzip stream is corrupt or cut short"), m);
  std::string flipped = gz;
  for (size_t i = 20; i < 40; ++i) flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
  m = read_error(d, "flipped.jsonl.gz", flipped);
  CHECK_MESSAGE((has(m, "flipped.jsonl.gz:") && (has(m, "gzip stream is corrupt") || has(m, "not a valid JSON line") ||
                                                 has(m, "not valid UTF-8"))),
                m);
}

// ================================ splits ================================

namespace {

// A miniature shared/data: test 12 pairs, dev_mismatched 30 (+1 "-"), SNLI dev 5, test 4, train 6.
void write_mini_data(const TempDir& d) {
  const char* labels[] = {"entailment", "neutral", "contradiction"};
  auto rows = [&](const std::string& tag, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += jl(tag + " premise " + std::to_string(i), tag + " hyp " + std::to_string(i), labels[i % 3]);
    return s;
  };
  write_text(d.file("mnli/dev_matched.jsonl"), rows("mm", 12));
  write_text(d.file("mnli/dev_mismatched.jsonl"), rows("mis", 30) + jl("mis unlabelled", "x", "-"));
  write_text(d.file("snli/dev.jsonl"), rows("sdev", 5));
  write_text(d.file("snli/test.jsonl"), rows("stest", 4));
  write_gzip(d.file("snli/train_subset20k.jsonl.gz"), rows("strain", 6));
}

}  // namespace

TEST_CASE("datasets nli: splits on a generated data dir: sizes, order, disjointness, determinism") {
  TempDir d;
  write_mini_data(d);
  NliSplitOptions opt;
  opt.valid_size = 10;
  const NliSplits s = make_nli_splits(d.str(), opt);
  CHECK(s.seed == 20261201u);
  CHECK(s.test.size() == 12);
  CHECK(s.valid.size() == 10);
  CHECK(s.train.size() == 20 + 5 + 4 + 6);
  // test is dev_matched untouched, in file order.
  const NliFile dm = read_nli(d.file("mnli/dev_matched.jsonl"));
  CHECK(premises(s.test) == premises(dm.pairs));
  for (size_t i = 0; i < s.test.size(); ++i) CHECK(s.test[i].label == dm.pairs[i].label);
  // valid: the indices of Fisher–Yates over 0..29 with Philox(20261201), from an independent
  // Python re-implementation of the documented draw.
  std::vector<std::string> want;
  for (int i : {2, 3, 5, 9, 11, 12, 16, 17, 18, 21}) want.push_back("mis premise " + std::to_string(i));
  CHECK(premises(s.valid) == want);
  // train: the other dev_mismatched pairs in file order, then SNLI dev, test, train.
  CHECK(s.train[0].premise == "mis premise 0");
  CHECK(s.train[19].premise == "mis premise 29");
  CHECK(s.train[20].premise == "sdev premise 0");
  CHECK(s.train[25].premise == "stest premise 0");
  CHECK(s.train[29].premise == "strain premise 0");
  CHECK(s.train.back().premise == "strain premise 5");
  // valid ∪ train-from-mismatched = all 30 dev_mismatched pairs, no overlap.
  const std::vector<std::string> valid_premises = premises(s.valid);
  std::set<std::string> v(valid_premises.begin(), valid_premises.end());
  std::set<std::string> all = v;
  for (const auto& p : s.train) {
    CHECK_MESSAGE(v.count(p.premise) == 0, p.premise);
    if (p.premise.rfind("mis ", 0) == 0) all.insert(p.premise);
  }
  CHECK(all.size() == 30);

  // Same seed twice: equal. Another seed: a different valid set (again the Python draw, seed 7).
  CHECK(premises(make_nli_splits(d.str(), opt).valid) == premises(s.valid));
  CHECK(premises(make_nli_splits(d.str(), opt).train) == premises(s.train));
  NliSplitOptions other = opt;
  other.seed = 7;
  const NliSplits s7 = make_nli_splits(d.str(), other);
  want.clear();
  for (int i : {4, 9, 12, 14, 16, 18, 19, 22, 24, 28}) want.push_back("mis premise " + std::to_string(i));
  CHECK(premises(s7.valid) == want);
  CHECK(premises(s7.test) == premises(s.test));

  // Edge sizes: no valid set at all, and all of dev_mismatched as valid.
  opt.valid_size = 0;
  CHECK(make_nli_splits(d.str(), opt).train.size() == 30 + 15);
  opt.valid_size = 30;
  const NliSplits all_valid = make_nli_splits(d.str(), opt);
  CHECK(all_valid.valid.size() == 30);
  CHECK(all_valid.train.size() == 15);
  opt.valid_size = 31;
  CHECK_THROWS_WITH_AS(make_nli_splits(d.str(), opt), doctest::Contains("valid_size 31 is more than the 30 pairs"), Error);
  opt.valid_size = -1;
  CHECK_THROWS_WITH_AS(make_nli_splits(d.str(), opt), doctest::Contains("valid_size must be >= 0, got -1"), Error);

  // mnli_repeat: the 20 dev_mismatched train pairs come 3 times in a row, then SNLI; valid unchanged.
  opt.valid_size = 10;
  opt.mnli_repeat = 3;
  const NliSplits r3 = make_nli_splits(d.str(), opt);
  REQUIRE(r3.train.size() == 3 * 20 + 15);
  CHECK(premises(r3.valid) == premises(s.valid));
  for (size_t i = 0; i < 60; ++i) CHECK(r3.train[i].premise == s.train[i % 20].premise);
  CHECK(r3.train[60].premise == "sdev premise 0");
  CHECK(r3.describe()["sources"][1]["train"] == 60);
  CHECK(r3.describe()["sources"][1]["repeat"] == 3);
  CHECK_FALSE(s.describe()["sources"][1].contains("repeat"));
  CHECK_MESSAGE(has(r3.summary(), "dev_mismatched.jsonl: 30 pairs (1 unlabelled skipped) (train part repeated 3x) -> train 60, valid 10"),
                r3.summary());
  opt.mnli_repeat = 0;
  CHECK_THROWS_WITH_AS(make_nli_splits(d.str(), opt), doctest::Contains("mnli_repeat must be >= 1, got 0"), Error);
}

TEST_CASE("datasets nli: splits describe() and summary() report sizes, histograms, sources, seed") {
  TempDir d;
  write_mini_data(d);
  NliSplitOptions opt;
  opt.valid_size = 10;
  const NliSplits s = make_nli_splits(d.str(), opt);
  const nlohmann::json j = s.describe();
  CHECK(j["seed"] == 20261201u);
  CHECK(j["label_map"] == nli_label_map());
  CHECK(j["splits"]["test"]["size"] == 12);
  CHECK(j["splits"]["test"]["labels"] == nlohmann::json{{"entailment", 4}, {"neutral", 4}, {"contradiction", 4}});
  CHECK(j["splits"]["valid"]["size"] == 10);
  const auto hv = nli_label_histogram(s.valid), ht = nli_label_histogram(s.train);
  CHECK(j["splits"]["valid"]["labels"]["neutral"] == hv[1]);
  CHECK(j["splits"]["train"]["labels"]["contradiction"] == ht[2]);
  CHECK(hv[0] + hv[1] + hv[2] == 10);
  CHECK(ht[0] + ht[1] + ht[2] == 35);
  REQUIRE(j["sources"].size() == 5);
  CHECK(j["sources"][0]["role"] == "test");
  CHECK(j["sources"][0]["pairs"] == 12);
  CHECK(j["sources"][0]["test"] == 12);
  CHECK(j["sources"][1]["pairs"] == 30);
  CHECK(j["sources"][1]["path"] == d.file("mnli/dev_mismatched.jsonl"));
  CHECK(j["sources"][1]["skipped_unlabelled"] == 1);
  CHECK(j["sources"][1]["valid"] == 10);
  CHECK(j["sources"][1]["train"] == 20);
  CHECK(j["sources"][4]["train"] == 6);
  CHECK(j["shared_pairs"] == nlohmann::json{{"train_valid", 0}, {"train_test", 0}, {"valid_test", 0}});
  const std::string sum = s.summary();
  CHECK_MESSAGE(has(sum, "seed 20261201"), sum);
  CHECK_MESSAGE(has(sum, "test       12   4 / 4 / 4"), sum);
  CHECK_MESSAGE(has(sum, "valid      10"), sum);
  CHECK_MESSAGE(has(sum, "train      35"), sum);
  CHECK_MESSAGE(has(sum, "dev_matched.jsonl: 12 pairs -> test 12"), sum);
  CHECK_MESSAGE(has(sum, "dev_mismatched.jsonl: 30 pairs (1 unlabelled skipped) -> train 20, valid 10"), sum);
}

TEST_CASE("datasets nli: splits train_files override, leakage guard, missing files") {
  TempDir d;
  write_mini_data(d);
  write_text(d.file("mine/train_a.tsv"), "sentence1\tsentence2\tgold_label\tgenre\nua\tha\tneutral\tfiction\nub\thb\t-\tslate\n");
  write_text(d.file("mine/train_b.jsonl"), jl("uc", "hc", "entailment") + jl("ud", "hd", "contradiction"));
  NliSplitOptions opt;
  opt.valid_size = 10;
  const NliSplits base = make_nli_splits(d.str(), opt);
  opt.train_files = {d.file("mine/train_a.tsv"), d.file("mine/train_b.jsonl")};
  const NliSplits s = make_nli_splits(d.str(), opt);
  CHECK(premises(s.train) == std::vector<std::string>{"ua", "uc", "ud"});  // replaced, in the order given
  CHECK(s.train[0].genre == "fiction");
  CHECK(premises(s.valid) == premises(base.valid));  // the same valid and test as without override
  CHECK(premises(s.test) == premises(base.test));
  const nlohmann::json j = s.describe();
  CHECK(j["sources"][1]["role"] == "valid");
  CHECK(j["sources"][1]["train"] == 0);
  CHECK(j["sources"][2]["skipped_unlabelled"] == 1);

  NliSplitOptions rep = opt;
  rep.mnli_repeat = 2;
  CHECK_THROWS_WITH_AS(make_nli_splits(d.str(), rep), doctest::Contains("which train_files replaces"), Error);

  // Snli files are not needed with an override.
  fs::remove_all(d.file("snli"));
  CHECK(make_nli_splits(d.str(), opt).train.size() == 3);
  opt.train_files = {d.file("mnli/dev_matched.jsonl")};
  CHECK_THROWS_WITH_AS(make_nli_splits(d.str(), opt), doctest::Contains("is the test set"), Error);
  opt.train_files = {d.file("mnli/../mnli/dev_mismatched.jsonl")};
  CHECK_THROWS_WITH_AS(make_nli_splits(d.str(), opt), doctest::Contains("would leak the validation pairs"), Error);
  opt.train_files = {d.file("mine/absent.tsv")};
  std::string m = error_of([&] { make_nli_splits(d.str(), opt); });
  CHECK_MESSAGE(has(m, d.file("mine/absent.tsv") + " — a training file given in NliSplitOptions::train_files"), m);

  // Default options without the SNLI files: every missing file named with its purpose.
  fs::remove(d.file("mnli/dev_matched.jsonl"));
  m = error_of([&] { make_nli_splits(d.str()); });
  CHECK_MESSAGE(has(m, "make_nli_splits: missing files under " + d.str()), m);
  CHECK_MESSAGE(has(m, d.file("mnli/dev_matched.jsonl") + " — MNLI dev_matched, the test set"), m);
  CHECK_MESSAGE(has(m, d.file("snli/dev.jsonl") + " — SNLI dev"), m);
  CHECK_MESSAGE(has(m, d.file("snli/train_subset20k.jsonl.gz") + " — 20,000 SNLI training pairs"), m);
  CHECK_MESSAGE(!has(m, "dev_mismatched.jsonl —"), m);  // present, so not listed
}

// ================================ real data ================================

TEST_CASE("datasets nli: real MNLI/SNLI files, counts and label histograms (EMBER_DATA)") {
  const std::string root = real_data_root("nli files");
  if (root.empty()) return;
  struct Want { const char* path; size_t n; std::array<int64_t, 3> hist; };
  // PROVENANCE.md of shared/data/mnli and shared/data/snli (entailment, neutral, contradiction).
  const Want want[] = {{"mnli/dev_matched.jsonl", 9815, {3479, 3123, 3213}},
                       {"mnli/dev_mismatched.jsonl", 9832, {3463, 3129, 3240}},
                       {"snli/dev.jsonl", 9842, {3329, 3235, 3278}},
                       {"snli/test.jsonl", 9824, {3368, 3219, 3237}},
                       {"snli/train_subset20k.jsonl.gz", 20000, {6667, 6562, 6771}}};
  for (const Want& w : want) {
    const std::string path = (fs::path(root) / w.path).string();
    if (!fs::is_regular_file(path)) {
      MESSAGE("SKIPPED real-data check: ", path, " not found");
      continue;
    }
    CAPTURE(path);
    const NliFile f = read_nli(path);
    CHECK(f.pairs.size() == w.n);
    CHECK(f.skipped_unlabelled == 0);  // the staged copies hold gold-labelled pairs only
    CHECK(nli_label_histogram(f.pairs) == w.hist);
    CHECK(std::count_if(f.pairs.begin(), f.pairs.end(), [](const NliPair& p) { return p.premise.empty(); }) == 0);
  }
}

TEST_CASE("datasets nli: real splits 47,498 / 2,000 / 9,815 (EMBER_DATA)") {
  const std::string root = real_data_root("nli splits");
  if (root.empty()) return;
  for (const char* f : {"mnli/dev_matched.jsonl", "mnli/dev_mismatched.jsonl", "snli/dev.jsonl", "snli/test.jsonl",
                        "snli/train_subset20k.jsonl.gz"})
    if (!fs::is_regular_file(fs::path(root) / f)) {
      MESSAGE("SKIPPED real-data check (nli splits): ", (fs::path(root) / f).string(), " not found");
      return;
    }
  const NliSplits s = make_nli_splits(root);
  CHECK(s.test.size() == 9815);
  CHECK(s.valid.size() == 2000);
  CHECK(s.train.size() == 7832 + 9842 + 9824 + 20000);
  CHECK(s.train.size() == 47498);
  CHECK(nli_label_histogram(s.test) == std::array<int64_t, 3>{3479, 3123, 3213});
  // The draw with the default seed, from the independent Python re-implementation of it.
  CHECK(nli_label_histogram(s.valid) == std::array<int64_t, 3>{703, 662, 635});
  CHECK(nli_label_histogram(s.train) == std::array<int64_t, 3>{16124, 15483, 15891});
  CHECK(s.valid.front().premise == "They were promptly executed.");  // dev_mismatched row index 19
  const nlohmann::json j = s.describe();
  CHECK(j["shared_pairs"] == nlohmann::json{{"train_valid", 0}, {"train_test", 0}, {"valid_test", 0}});
  REQUIRE(j["sources"].size() == 5);
  CHECK(j["sources"][0]["pairs"] == 9815);
  CHECK(j["sources"][1]["valid"] == 2000);
  CHECK(j["sources"][1]["train"] == 7832);
  MESSAGE(s.summary());
}
