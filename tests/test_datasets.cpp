// Dataset readers (datasets/): WikiText-2 tokenising and batching, MNIST IDX (plain and gzip),
// CIFAR-10 binary batches, and ImageSet → tensor batches. Every reader is run on tiny files
// written here to a temporary directory, including each kind of corrupt file; the real files are
// checked too when EMBER_DATA points at shared/data, and skipped with a visible message when not.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <tuple>

#include "tests/test_util.h"
#include "datasets/cifar10.h"
#include "datasets/image_batch.h"
#include "datasets/mnist.h"
#include "datasets/wikitext.h"

using namespace ember;
using namespace ember::datasets;
namespace fs = std::filesystem;

namespace {

using test::TempDir;
using test::write_bytes;
using test::write_text;
using test::write_gzip;
using test::read_bytes;



void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
}
std::vector<uint8_t> idx_images(uint32_t count, uint32_t rows, uint32_t cols, const std::vector<uint8_t>& px,
                                uint32_t magic = 0x803) {
  std::vector<uint8_t> v;
  for (uint32_t x : {magic, count, rows, cols}) put_be32(v, x);
  v.insert(v.end(), px.begin(), px.end());
  return v;
}
std::vector<uint8_t> idx_labels(uint32_t count, const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> v;
  put_be32(v, 0x801);
  put_be32(v, count);
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

// The message of the ember::Error that f throws, or "<no error>".
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// EMBER_DATA/sub when, for every entry of `needed`, one of its alternative names is a file there;
// else "" after a visible SKIPPED message.
std::string real_data_dir(const std::string& sub, const std::vector<std::vector<std::string>>& needed) {
  const char* root = std::getenv("EMBER_DATA");
  if (!root || !*root) {
    MESSAGE("SKIPPED real-data check (", sub, "): EMBER_DATA not set");
    return "";
  }
  const fs::path dir = fs::path(root) / sub;
  for (const auto& names : needed)
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return fs::is_regular_file(dir / n); })) {
      MESSAGE("SKIPPED real-data check (", sub, "): ", (dir / names[0]).string(), " not found");
      return "";
    }
  return dir.string();
}

}  // namespace

// ================================ WikiText ================================

TEST_CASE("datasets wikitext: split_words matches Python str.split") {
  // Tab, runs of spaces, NBSP (U+00A0), ideographic space (U+3000) and \x1c separate words;
  // a non-space multi-byte character (é) stays inside its word.
  const std::string line = "  a\tb  caf\xc3\xa9\xc2\xa0" "d \xe3\x80\x80" "e\x1c" "f ";
  CHECK(split_words(line) == std::vector<std::string>{"a", "b", "caf\xc3\xa9", "d", "e", "f"});
  CHECK(split_words("").empty());
  CHECK(split_words(" \t ").empty());
  const std::string bad = error_of([] { split_words("ok \xff", "x.txt:3"); });
  CHECK(has(bad, "x.txt:3"));
  CHECK(has(bad, "invalid UTF-8 at byte 3"));
  CHECK(has(error_of([] { split_words("\xed\xa0\x80"); }), "invalid UTF-8"));  // a surrogate
}

TEST_CASE("datasets wikitext: token counts, empty lines, vocab order, line endings") {
  TempDir d;
  write_text(d.file("train.txt"), " \n = A = \n\nb a c\n");
  write_text(d.file("valid.txt"), "a z\n");
  write_text(d.file("test.txt"), "q\r\nb\rx");  // CRLF, a lone CR, no final newline: 3 lines
  Corpus c = load_wikitext(d.str());
  CHECK(c.layout == "word_language_model");
  // Ids by first appearance: <eos> (end of line 1) 0, = 1, A 2, b 3, a 4, c 5, z 6, q 7, x 8.
  CHECK(c.vocab.words() == std::vector<std::string>{"<eos>", "=", "A", "b", "a", "c", "z", "q", "x"});
  CHECK(c.train == std::vector<int64_t>{0, 1, 2, 1, 0, 0, 3, 4, 5, 0});  // empty lines give just <eos>
  CHECK(c.valid == std::vector<int64_t>{4, 6, 0});
  CHECK(c.test == std::vector<int64_t>{7, 0, 3, 0, 8, 0});
}

TEST_CASE("datasets wikitext: layout detection and a clear error when neither is there") {
  TempDir d;
  write_text(d.file("wiki.train.tokens"), "b a\n");
  write_text(d.file("wiki.valid.tokens"), "a\n");
  write_text(d.file("wiki.test.tokens"), "c\n");
  write_text(d.file("train.txt"), "ignored\n");  // the distributed names win
  Corpus c = load_wikitext(d.str());
  CHECK(c.layout == "wikitext");
  CHECK(c.vocab.size() == 4);
  CHECK(c.test == std::vector<int64_t>{3, 2});

  TempDir e;
  write_text(e.file("train.txt"), "a\n");
  const std::string msg = error_of([&] { load_wikitext(e.str()); });
  for (const char* part : {"wiki.train.tokens", "wiki.test.tokens", "valid.txt", "test.txt", "found: train.txt"})
    CHECK_MESSAGE(has(msg, part), msg);
}

TEST_CASE("datasets wikitext: Vocab encode, unk, save/load round trip") {
  Vocab v;
  CHECK(v.add("<eos>") == 0);
  CHECK(v.add("the") == 1);
  CHECK(has(error_of([&] { v.encode("cat"); }), "no '<unk>'"));
  CHECK(v.add("<unk>") == 2);
  CHECK(v.add("the") == 1);  // no duplicate
  CHECK(v.encode("cat") == v.unk_id());
  CHECK(v.unk_id() == 2);
  CHECK(v.word(1) == "the");
  CHECK(has(error_of([&] { v.word(3); }), "out of range"));
  CHECK(has(error_of([&] { v.id("cat"); }), "'cat' is not in the vocabulary"));

  TempDir d;
  const std::string path = d.file("vocab.txt");
  v.add("caf\xc3\xa9");
  v.save(path);
  CHECK(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 1);  // no temp file left
  Vocab w = Vocab::load(path);
  CHECK(w.words() == v.words());
  CHECK(w.encode("caf\xc3\xa9") == 3);

  write_text(path, "a\nb\na\n");
  CHECK(has(error_of([&] { Vocab::load(path); }), "vocab.txt:3: 'a' appears twice"));
  write_text(path, "a\n\nb\n");
  CHECK(has(error_of([&] { Vocab::load(path); }), "vocab.txt:2: expected exactly one word"));
  write_text(path, "a b\n");
  CHECK(has(error_of([&] { Vocab::load(path); }), "expected exactly one word"));
}

TEST_CASE("datasets wikitext: tokenize_file with a fixed vocabulary maps new words to <unk>") {
  TempDir d;
  write_text(d.file("t.txt"), "the cat\n");
  Vocab v;
  for (const char* w : {"<eos>", "<unk>", "the"}) v.add(w);
  CHECK(tokenize_file(d.file("t.txt"), v, /*grow=*/false) == std::vector<int64_t>{2, 1, 0});
  CHECK(v.size() == 3);
}

TEST_CASE("datasets wikitext: batchify shape and content (data.py)") {
  std::vector<int64_t> ids(11);
  std::iota(ids.begin(), ids.end(), 0);
  Tensor b = batchify(ids, 3);  // 11 // 3 = 3 rows; token 9, 10 dropped
  CHECK(b.dtype() == DType::I64);
  CHECK(b.shape() == Shape{3, 3});
  // Column j is the contiguous stream ids[3j .. 3j+3): row t = [t, 3+t, 6+t].
  CHECK(b.to_vector<int64_t>() == std::vector<int64_t>{0, 3, 6, 1, 4, 7, 2, 5, 8});
  CHECK(has(error_of([&] { batchify(ids, 12); }), "cannot fill one row"));
  CHECK(has(error_of([&] { batchify(ids, 0); }), "batch_size must be >= 1"));
}

TEST_CASE("datasets wikitext: bptt_window in the middle and at the end (get_batch)") {
  std::vector<int64_t> ids(26);
  std::iota(ids.begin(), ids.end(), 0);
  Tensor data = batchify(ids, 2);  // (13, 2): row t = [t, 13+t]
  BpttWindow w = bptt_window(data, 0, 5);
  CHECK(w.input.shape() == Shape{5, 2});
  CHECK(w.input.contiguous().to_vector<int64_t>() == std::vector<int64_t>{0, 13, 1, 14, 2, 15, 3, 16, 4, 17});
  CHECK(w.target.contiguous().to_vector<int64_t>() == std::vector<int64_t>{1, 14, 2, 15, 3, 16, 4, 17, 5, 18});
  // At i = 10 only n − 1 − i = 2 rows have a next token.
  BpttWindow e = bptt_window(data, 10, 5);
  CHECK(e.input.shape() == Shape{2, 2});
  CHECK(e.input.contiguous().to_vector<int64_t>() == std::vector<int64_t>{10, 23, 11, 24});
  CHECK(e.target.contiguous().to_vector<int64_t>() == std::vector<int64_t>{11, 24, 12, 25});
  CHECK(bptt_window(data, 11, 5).input.shape() == Shape{1, 2});
  CHECK(has(error_of([&] { bptt_window(data, 12, 5); }), "leaves no target"));
}

TEST_CASE("datasets wikitext: sample_bptt (AWD-LSTM variable length)") {
  Generator g1(7), g2(7);
  std::vector<int64_t> a, b;
  for (int i = 0; i < 2000; ++i) {
    a.push_back(sample_bptt(g1, 70));
    b.push_back(sample_bptt(g2, 70));
  }
  CHECK(a == b);  // reproducible from the seed
  CHECK(*std::min_element(a.begin(), a.end()) >= 5);
  const auto halves = std::count_if(a.begin(), a.end(), [](int64_t x) { return x < 52; });
  CHECK(halves > 50);   // ~5% of 2000 = 100 draws around 35
  CHECK(halves < 160);
  Generator g(1);
  CHECK(sample_bptt(g, 70, 1.0, 0.0) == 70);
  CHECK(sample_bptt(g, 71, 0.0, 0.0) == 35);  // int(35.5)
  CHECK(sample_bptt(g, 6, 0.0, 0.0) == 5);    // floor of 5
  // Truncation lowers the mean by about 0.5: E[int(70 + 5z)] ≈ 69.5 (standard error 0.05 here).
  double sum = 0;
  for (int i = 0; i < 10000; ++i) sum += static_cast<double>(sample_bptt(g, 70, 1.0, 5.0));
  CHECK(sum / 10000 == doctest::Approx(69.5).epsilon(0.004));
}

TEST_CASE("datasets wikitext: real WikiText-2 counts (EMBER_DATA)") {
  const std::string dir = real_data_dir("wikitext-2", {{"train.txt", "wiki.train.tokens"},
                                                       {"valid.txt", "wiki.valid.tokens"},
                                                       {"test.txt", "wiki.test.tokens"}});
  if (dir.empty()) return;
  Corpus c = load_wikitext(dir);
  CHECK(c.train.size() == 2088628);
  CHECK(c.valid.size() == 217646);
  CHECK(c.test.size() == 245569);
  CHECK(c.vocab.size() == 33278);
  // The first lines are " " and " = Valkyria Chronicles III = ".
  CHECK(c.vocab.word(0) == "<eos>");
  CHECK(c.vocab.word(1) == "=");
  CHECK(c.vocab.word(2) == "Valkyria");
  CHECK(c.vocab.contains("<unk>"));
}

// ================================ MNIST (IDX) ================================

namespace {
// 3 images of 2×4 with distinct pixels, labels 7 0 9.
const std::vector<uint8_t> kPx = [] {
  std::vector<uint8_t> p(24);
  for (int i = 0; i < 24; ++i) p[i] = static_cast<uint8_t>(10 * i + 3);
  return p;
}();
const std::vector<uint8_t> kLabels = {7, 0, 9};
}  // namespace

TEST_CASE("datasets mnist: plain and gzip IDX round trip") {
  TempDir d;
  write_bytes(d.file("train-images-idx3-ubyte"), idx_images(3, 2, 4, kPx));
  write_gzip(d.file("train-labels-idx1-ubyte.gz"), idx_labels(3, kLabels));
  write_gzip(d.file("t10k-images-idx3-ubyte.gz"), idx_images(3, 2, 4, kPx));
  write_gzip(d.file("t10k-labels-idx1-ubyte.gz"), idx_labels(3, kLabels));
  for (bool train : {true, false}) {
    CAPTURE(train);
    ImageSet s = load_mnist(d.str(), train);
    CHECK(s.n == 3);
    CHECK(s.c == 1);
    CHECK(s.h == 2);
    CHECK(s.w == 4);
    CHECK(s.pixels == kPx);
    CHECK(s.labels == std::vector<int64_t>{7, 0, 9});
  }
  IdxImages im = read_idx_images(d.file("t10k-images-idx3-ubyte.gz"));
  CHECK(im.count == 3);
  CHECK(im.pixels == kPx);
  CHECK(has(error_of([] { load_mnist("/nonexistent_ember_dir", true); }),
            "neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz"));
}

TEST_CASE("datasets mnist: corrupt IDX files give clear errors") {
  TempDir d;
  const std::string img = d.file("img"), lab = d.file("lab");

  SUBCASE("bad magic") {
    write_bytes(img, idx_labels(3, kLabels));
    const std::string m = error_of([&] { read_idx_images(img); });
    CHECK_MESSAGE(has(m, "bad magic number: expected 0x00000803"), m);
    CHECK_MESSAGE(has(m, "found 0x00000801"), m);
    CHECK_MESSAGE(has(m, "this is an IDX label file"), m);
    write_bytes(img, idx_images(3, 2, 4, kPx, 0x12345678));
    CHECK(has(error_of([&] { read_idx_images(img); }), "found 0x12345678"));
  }
  SUBCASE("shorter than the header") {
    write_bytes(img, {0, 0, 8, 3, 0});
    CHECK(has(error_of([&] { read_idx_images(img); }), "too short for an IDX header (IDX images, uint8, 3 dims: 16 bytes): found 5 bytes"));
  }
  SUBCASE("truncated plain data") {
    std::vector<uint8_t> b = idx_images(3, 2, 4, kPx);
    b.resize(b.size() - 5);
    write_bytes(img, b);
    const std::string m = error_of([&] { read_idx_images(img); });
    CHECK_MESSAGE(has(m, "3×2×4 = 24 data bytes, so the file should be 40 bytes, but it is 35 bytes (truncated)"), m);
  }
  SUBCASE("trailing data in a plain file") {
    std::vector<uint8_t> b = idx_images(3, 2, 4, kPx);
    b.push_back(0);
    write_bytes(img, b);
    CHECK(has(error_of([&] { read_idx_images(img); }), "(trailing data)"));
  }
  SUBCASE("gzip stream shorter than the header claims") {
    write_gzip(img, idx_images(4, 2, 4, kPx));  // claims 32 pixels, holds 24
    const std::string m = error_of([&] { read_idx_images(img); });
    CHECK_MESSAGE(has(m, "data ends after 24 bytes (decompressed) but the header claims count×rows×cols = 4×2×4 = 32 bytes"), m);
  }
  SUBCASE("gzip stream longer than the header claims") {
    write_gzip(img, idx_images(2, 2, 4, kPx));  // claims 16 pixels, holds 24
    const std::string m = error_of([&] { read_idx_images(img); });
    CHECK_MESSAGE(has(m, "claims count×rows×cols = 2×2×4 = 16 data bytes, but 8 more bytes follow"), m);
  }
  SUBCASE("gzip file cut short") {
    write_gzip(img, idx_images(3, 2, 4, kPx));
    std::vector<uint8_t> b = read_bytes(img);
    b.resize(b.size() - 12);  // drops the CRC/size trailer and some deflate data
    write_bytes(img, b);
    const std::string m = error_of([&] { read_idx_images(img); });
    CHECK_MESSAGE((has(m, "gzip stream is corrupt or cut short") || has(m, "data ends after")), m);
  }
  SUBCASE("header claiming a huge count in a tiny file") {
    write_bytes(img, idx_images(1000000, 28, 28, kPx));  // 784 MB claimed, under the 1e9 limit
    CHECK(has(error_of([&] { read_idx_images(img); }), "should be 784000016 bytes, but it is 40 bytes"));
    write_gzip(img, idx_images(1000000, 28, 28, kPx));
    CHECK(has(error_of([&] { read_idx_images(img); }), "data ends after 24 bytes (decompressed)"));
    write_bytes(img, idx_images(0xffffffffu, 0xffffffffu, 0xffffffffu, kPx));  // would overflow 64 bits
    CHECK(has(error_of([&] { read_idx_images(img); }), "more than the limit of 1000000000"));
    write_gzip(img, idx_images(2000000, 28, 28, kPx));
    CHECK(has(error_of([&] { read_idx_images(img); }), "1568000000 data bytes, more than the limit"));
    write_bytes(lab, idx_labels(0xfffffff0u, kLabels));
    CHECK(has(error_of([&] { read_idx_labels(lab); }), "more than the limit"));
  }
  SUBCASE("zero dimension") {
    write_bytes(img, idx_images(3, 0, 4, {}));
    CHECK(has(error_of([&] { read_idx_images(img); }), "zero dimension"));
  }
  SUBCASE("label >= 10") {
    write_bytes(d.file("train-images-idx3-ubyte"), idx_images(3, 2, 4, kPx));
    write_bytes(d.file("train-labels-idx1-ubyte"), idx_labels(3, {1, 12, 3}));
    const std::string m = error_of([&] { load_mnist(d.str(), true); });
    CHECK_MESSAGE(has(m, "train-labels-idx1-ubyte: label 12 at index 1; MNIST labels are 0..9"), m);
  }
  SUBCASE("image and label counts differ") {
    write_bytes(d.file("train-images-idx3-ubyte"), idx_images(3, 2, 4, kPx));
    write_gzip(d.file("train-labels-idx1-ubyte.gz"), idx_labels(2, {1, 2}));
    const std::string m = error_of([&] { load_mnist(d.str(), true); });
    CHECK_MESSAGE(has(m, "holds 3 images but"), m);
    CHECK_MESSAGE(has(m, "holds 2 labels; they must match"), m);
  }
}

TEST_CASE("datasets mnist: real files (EMBER_DATA)") {
  std::vector<std::vector<std::string>> needed;
  for (const char* n : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                        "t10k-labels-idx1-ubyte"})
    needed.push_back({std::string(n) + ".gz", n});
  const std::string dir = real_data_dir("mnist", needed);
  if (dir.empty()) return;
  ImageSet train = load_mnist(dir, true), test = load_mnist(dir, false);
  CHECK(train.n == 60000);
  CHECK(test.n == 10000);
  CHECK((train.h == 28 && train.w == 28 && train.c == 1));
  CHECK(train.pixels.size() == 60000u * 784u);
  CHECK(train.labels[0] == 5);
  CHECK(test.labels[0] == 7);
  std::vector<int64_t> hist(10, 0);
  for (int64_t l : train.labels) ++hist[l];
  CHECK(hist == std::vector<int64_t>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
}

// ================================ sampling ================================

TEST_CASE("datasets sampling: balanced_subset is balanced and reproducible") {
  // 10 classes with 5..14 members, interleaved.
  std::vector<int64_t> labels;
  for (int rep = 0; rep < 14; ++rep)
    for (int k = 0; k < 10; ++k)
      if (rep < 5 + k) labels.push_back(k);
  Generator g1(42), g2(42), g3(43);
  const std::vector<int64_t> a = balanced_subset(labels, 5, g1), b = balanced_subset(labels, 5, g2);
  const std::vector<int64_t> c = balanced_subset(labels, 5, g3);
  CHECK(a == b);
  CHECK(a != c);  // another seed, another choice (classes 1..9 have spare members)
  REQUIRE(a.size() == 50);
  CHECK(std::is_sorted(a.begin(), a.end()));
  CHECK(std::set<int64_t>(a.begin(), a.end()).size() == 50);
  std::vector<int> per(10, 0);
  for (int64_t i : a) ++per[labels[i]];
  CHECK(per == std::vector<int>(10, 5));
  const std::string m = error_of([&] { balanced_subset(labels, 6, g1); });
  CHECK_MESSAGE(has(m, "class 0 has only 5 examples, asked for 6"), m);
  CHECK(has(error_of([&] { balanced_subset({0, 10}, 1, g1); }), "label 10 at index 1"));
}

TEST_CASE("datasets sampling: split_validation by fraction and by count") {
  std::vector<int64_t> idx(50);
  std::iota(idx.begin(), idx.end(), 100);
  Generator g1(3), g2(3);
  IndexSplit s = split_validation(idx, 0.2, g1);
  CHECK(s.valid.size() == 10);
  CHECK(s.train.size() == 40);
  std::vector<int64_t> all = s.train;
  all.insert(all.end(), s.valid.begin(), s.valid.end());
  std::sort(all.begin(), all.end());
  CHECK(all == idx);  // disjoint and complete
  CHECK(split_validation(idx, 0.2, g2).valid == s.valid);
  CHECK(split_validation(idx, 7, g1).valid.size() == 7);  // an int means a count
  CHECK(split_validation(idx, int64_t{0}, g1).train == idx);
  CHECK(has(error_of([&] { split_validation(idx, 51, g1); }), "cannot hold out 51 of 50"));
  CHECK(has(error_of([&] { split_validation(idx, 1.5, g1); }), "fraction must lie in [0, 1]"));
}

// ================================ CIFAR-10 ================================

namespace {
// `records` CIFAR records; record r has label labels[r] and pixel j = (r * 7 + j) % 251.
std::vector<uint8_t> cifar_records(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> v;
  for (size_t r = 0; r < labels.size(); ++r) {
    v.push_back(labels[r]);
    for (int j = 0; j < 3072; ++j) v.push_back(static_cast<uint8_t>((r * 7 + j) % 251));
  }
  return v;
}
}  // namespace

TEST_CASE("datasets cifar10: generated batches load in file order, CHW") {
  TempDir d;
  for (int b = 1; b <= 5; ++b)
    write_bytes(d.file("data_batch_" + std::to_string(b) + ".bin"),
                cifar_records({static_cast<uint8_t>(b), static_cast<uint8_t>(9 - b)}));
  write_bytes(d.file("test_batch.bin"), cifar_records({6, 3}));
  write_text(d.file("batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  ImageSet tr = load_cifar10(d.str(), true);
  CHECK(tr.n == 10);
  CHECK((tr.c == 3 && tr.h == 32 && tr.w == 32));
  CHECK(tr.labels == std::vector<int64_t>{1, 8, 2, 7, 3, 6, 4, 5, 5, 4});
  REQUIRE(tr.pixels.size() == 10u * 3072u);
  // Image 3 is record 1 of data_batch_2: pixel j = (7 + j) % 251, kept in the file's CHW order.
  CHECK(tr.pixels[3 * 3072 + 0] == 7);
  CHECK(tr.pixels[3 * 3072 + 1024 + 5] == (7 + 1029) % 251);  // green plane, row 0, column 5
  ImageSet te = load_cifar10(d.str(), false);
  CHECK(te.labels == std::vector<int64_t>{6, 3});
  CHECK(te.pixels[3071] == 3071 % 251);
  const auto names = cifar10_class_names(d.str());
  REQUIRE(names.size() == 10);
  CHECK(names[6] == "frog");
}

TEST_CASE("datasets cifar10: truncated, missing and mislabelled files give clear errors") {
  TempDir d;
  std::vector<uint8_t> rec = cifar_records({1, 2});
  rec.resize(rec.size() - 100);
  write_bytes(d.file("test_batch.bin"), rec);
  std::string m = error_of([&] { load_cifar10(d.str(), false); });
  CHECK_MESSAGE(has(m, "test_batch.bin is 6046 bytes, expected a non-zero multiple of 3073"), m);
  CHECK_MESSAGE(has(m, "1 whole records and 2973 bytes left over"), m);

  write_bytes(d.file("test_batch.bin"), cifar_records({1, 10}));
  m = error_of([&] { load_cifar10(d.str(), false); });
  CHECK_MESSAGE(has(m, "record 1 (byte offset 3073) has label 10"), m);

  for (int b : {1, 2, 4, 5}) write_bytes(d.file("data_batch_" + std::to_string(b) + ".bin"), cifar_records({0}));
  m = error_of([&] { load_cifar10(d.str(), true); });
  CHECK_MESSAGE(has(m, "lacks data_batch_3.bin"), m);

  write_text(d.file("batches.meta.txt"), "cat\ndog\n");
  CHECK(has(error_of([&] { cifar10_class_names(d.str()); }), "holds 2 class names, expected 10"));
}

TEST_CASE("datasets cifar10: real files (EMBER_DATA)") {
  const std::string dir = real_data_dir("cifar10", {{"data_batch_1.bin"}, {"data_batch_2.bin"}, {"data_batch_3.bin"},
                                                    {"data_batch_4.bin"}, {"data_batch_5.bin"}, {"test_batch.bin"},
                                                    {"batches.meta.txt"}});
  if (dir.empty()) return;
  ImageSet train = load_cifar10(dir, true), test = load_cifar10(dir, false);
  const auto names = cifar10_class_names(dir);
  CHECK(train.n == 50000);
  CHECK(test.n == 10000);
  CHECK(train.labels[0] == 6);
  CHECK(names[train.labels[0]] == "frog");
  CHECK(test.labels[0] == 3);
  CHECK(names[test.labels[0]] == "cat");
  std::vector<int64_t> hist(10, 0);
  for (int64_t l : train.labels) ++hist[l];
  CHECK(hist == std::vector<int64_t>(10, 5000));
}

// ================================ ImageSet → tensor ================================

namespace {
// 2 images, 2 channels, 2×3; pixel value = its flat index.
ImageSet tiny_set() {
  ImageSet s;
  s.n = 2, s.c = 2, s.h = 2, s.w = 3;
  s.pixels.resize(24);
  std::iota(s.pixels.begin(), s.pixels.end(), 0);
  s.labels = {4, 1};
  return s;
}
}  // namespace

TEST_CASE("datasets image_batch: to_tensor, labels, grey_to_rgb, normalize") {
  ImageSet s = tiny_set();
  Tensor x = to_tensor(s, {1, 0, 1}, 0.5f);
  CHECK(x.shape() == Shape{3, 2, 2, 3});
  const std::vector<float> v = x.to_vector<float>();
  CHECK(v[0] == 6.0f);   // image 1, first pixel = 12 × 0.5
  CHECK(v[12] == 0.0f);  // image 0
  CHECK(v[35] == 11.5f);
  CHECK(labels_tensor(s, {1, 0}).to_vector<int64_t>() == std::vector<int64_t>{1, 4});
  CHECK(has(error_of([&] { to_tensor(s, {2}); }), "index 2 (position 0) out of range [0, 2)"));

  Tensor grey = to_tensor(s, {0}).narrow(1, 0, 1).contiguous();  // (1, 1, 2, 3)
  Tensor rgb = grey_to_rgb(grey);
  CHECK(rgb.shape() == Shape{1, 3, 2, 3});
  const std::vector<float> r = rgb.to_vector<float>();
  for (int ch = 0; ch < 3; ++ch)
    for (int j = 0; j < 6; ++j) CHECK(r[ch * 6 + j] == doctest::Approx(j / 255.0));
  CHECK(has(error_of([&] { grey_to_rgb(x); }), "expected one channel"));

  Tensor y = to_tensor(s, {0}, 1.0f);
  normalize_channels_(y, {1.0f, 10.0f}, {2.0f, 4.0f});
  const std::vector<float> n = y.to_vector<float>();
  CHECK(n[0] == -0.5f);   // (0 − 1) / 2
  CHECK(n[6] == -1.0f);   // (6 − 10) / 4
  CHECK(n[11] == 0.25f);  // (11 − 10) / 4
  CHECK(has(error_of([&] { normalize_channels_(y, {0, 0, 0}, {1}); }), "got 3 means and 1 stds"));
}

TEST_CASE("datasets image_batch: random_crop_flip shifts with zero fill, flips, and follows the seed") {
  ImageSet s;
  s.n = 1, s.c = 1, s.h = 4, s.w = 5;
  for (int i = 0; i < 20; ++i) s.pixels.push_back(static_cast<uint8_t>(i + 1));  // no pixel is 0
  s.labels = {0};
  Tensor x = to_tensor(s, std::vector<int64_t>(64, 0), 1.0f);  // 64 copies of one image
  Generator g0(5);
  CHECK(random_crop_flip(x, 0, false, g0).to_vector<float>() == x.to_vector<float>());

  Generator g1(11), g2(11);
  Tensor a = random_crop_flip(x, 2, true, g1), b = random_crop_flip(x, 2, true, g2);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  // Each output must be the input shifted by some (dy, dx) in [-2, 2]², maybe mirrored, 0 outside.
  const std::vector<float> out = a.to_vector<float>(), in = x.to_vector<float>();
  std::set<std::tuple<int, int, bool>> seen;
  for (int i = 0; i < 64; ++i) {
    int matches = 0;
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx)
        for (bool m : {false, true}) {
          bool ok = true;
          for (int y = 0; y < 4 && ok; ++y)
            for (int xx = 0; xx < 5 && ok; ++xx) {
              const int sy = y + dy, sx = (m ? 4 - xx : xx) + dx;
              const float want = (sy >= 0 && sy < 4 && sx >= 0 && sx < 5) ? in[sy * 5 + sx] : 0.0f;
              ok = out[i * 20 + y * 5 + xx] == want;
            }
          if (ok) ++matches, seen.insert({dy, dx, m});
        }
    CHECK(matches == 1);
  }
  CHECK(seen.size() > 20);  // 64 draws over 50 outcomes cover many of them
  const auto flips = std::count_if(seen.begin(), seen.end(), [](const auto& t) { return std::get<2>(t); });
  CHECK(flips > 5);
}

TEST_CASE("datasets image_batch: random_below is unbiased in range") {
  Generator g(9);
  std::vector<int> hist(6, 0);
  for (int i = 0; i < 60000; ++i) ++hist[random_below(g, 6)];
  for (int h : hist) CHECK(std::abs(h - 10000) < 400);  // 4 standard deviations (σ ≈ 91)
  CHECK(has(error_of([&] { random_below(g, 0); }), "n must be > 0"));
}
