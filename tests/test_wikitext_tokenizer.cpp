// WikiText-style tokenising of raw text (datasets/wikitext_tokenizer.h): hand cases for each
// rule, with the WikiText-2 train.txt evidence beside the surprising ones; the inverse
// (wikitext_detokenize); a round trip on generated text that needs no data; and, when EMBER_DATA
// points at shared/data, the round trip on every line of WikiText-2 and the OOV rate of MNLI
// dev_matched against the WikiText-2 vocabulary (skipped with a visible message when not).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "datasets/wikitext.h"
#include "datasets/wikitext_tokenizer.h"

using namespace ember;
using namespace ember::datasets;
namespace fs = std::filesystem;

namespace {

using Tokens = std::vector<std::string>;

// Tokens as one string, " | "-separated, so a failing CHECK shows both sides readably.
std::string joined(const Tokens& t) {
  std::string s;
  for (size_t i = 0; i < t.size(); ++i) s += (i ? " | " : "") + t[i];
  return s;
}
// Space-separated expectation → tokens.
Tokens toks(const std::string& spaced) { return split_words(spaced); }

#define CHECK_TOKENS(text, expected) CHECK(joined(wikitext_tokenize(text)) == joined(toks(expected)))

std::string error_of(const std::string& text) {
  try {
    wikitext_tokenize(text);
  } catch (const ember::Error& e) {
    return e.what();
  }
  return "<no error>";
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// EMBER_DATA/sub/name when that file exists; else "" after a visible SKIPPED message.
std::string real_file(const std::string& sub, const std::string& name) {
  const char* root = std::getenv("EMBER_DATA");
  if (!root || !*root) {
    MESSAGE("SKIPPED real-data check (", sub, "/", name, "): EMBER_DATA not set");
    return "";
  }
  const fs::path p = fs::path(root) / sub / name;
  if (!fs::is_regular_file(p)) {
    MESSAGE("SKIPPED real-data check: ", p.string(), " not found");
    return "";
  }
  return p.string();
}

}  // namespace

TEST_CASE("datasets wikitext_tokenize: the example sentence, clitics and possessives") {
  CHECK_TOKENS("The man's dog didn't run 3.5 miles, did it?",
               "The man 's dog didn 't run 3 @.@ 5 miles , did it ?");
  // train.txt: 118 "don 't", 90 "didn 't", 0 " n't " — Moses splits at the apostrophe.
  CHECK_TOKENS("I'm you're we've they'll he'd it's can't won't DON'T",
               "I 'm you 're we 've they 'll he 'd it 's can 't won 't DON 'T");
  CHECK_TOKENS("John's car, James' car, the players' team", "John 's car , James ' car , the players ' team");
  CHECK_TOKENS("O'Brien's 1990's o'clock", "O 'Brien 's 1990 's o 'clock");  // train: 'Brien 76 times
  CHECK_TOKENS("'90s", "' 90s");
  // Perl's s///g consumes "k'n" before it can look at "n'r": train has 'n'roll 5 times.
  CHECK_TOKENS("rock'n'roll", "rock 'n'roll");
}

TEST_CASE("datasets wikitext_tokenize: hyphens, dashes and negative numbers") {
  CHECK_TOKENS("well-known", "well @-@ known");
  CHECK_TOKENS("state-of-the-art role-playing 5-10 0-0", "state @-@ of @-@ the @-@ art role @-@ playing 5 @-@ 10 0 @-@ 0");
  // Only a hyphen between two letters/digits is split: "re-" before a space and "--" stay.
  CHECK_TOKENS("pre- and post-war a--b a -- b", "pre- and post @-@ war a--b a -- b");
  // An ASCII minus before a number has no letter/digit before it, so "-5" stays one token (train
  // has none: Wikipedia writes U+2212, which is a symbol and stands alone: 57 "− <digit>" in train).
  CHECK_TOKENS("-5 degrees, a -5 and \u22125 or - 5", "-5 degrees , a -5 and \u2212 5 or - 5");
  CHECK_TOKENS("1990\u20132000 \u2014 yes", "1990 \u2013 2000 \u2014 yes");  // en and em dash are symbols
}

TEST_CASE("datasets wikitext_tokenize: numbers with commas and decimals") {
  CHECK_TOKENS("1,000 people", "1 @,@ 000 people");
  CHECK_TOKENS("3.14 and 1,234,567.89", "3 @.@ 14 and 1 @,@ 234 @,@ 567 @.@ 89");
  CHECK_TOKENS("It cost 3.14.", "It cost 3 @.@ 14 .");
  CHECK_TOKENS("1, 2, 3 and 1,2", "1 , 2 , 3 and 1 @,@ 2");
  // Markers only in tokens made of digits and separators: train keeps 1,000th (4 times) and 1.e4.
  CHECK_TOKENS("his 1,000th game after 1.e4 and .5 and S.10", "his 1,000th game after 1.e4 and .5 and S.10");
  // Moses keeps a period before a lower-case word and a comma ending the text; after a digit
  // WikiText made them markers: train has "October 3 @.@ its" and lines ending "1932 @,@".
  CHECK_TOKENS("on October 3. its remnants", "on October 3 @.@ its remnants");
  CHECK_TOKENS("born in 1932,", "born in 1932 @,@");
  CHECK_TOKENS("born in 1932, he", "born in 1932 , he");
}

TEST_CASE("datasets wikitext_tokenize: sentence periods, abbreviations and ellipses") {
  CHECK_TOKENS("He left. She stayed.", "He left . She stayed .");
  // Non-breaking prefixes (Moses' nonbreaking_prefix.en) and words with an inner period keep it.
  CHECK_TOKENS("Mr. Smith met Dr. Who in St. Louis.", "Mr. Smith met Dr. Who in St. Louis .");
  CHECK_TOKENS("the U.S. Army at 5 p.m. The end", "the U.S. Army at 5 p.m. The end");
  CHECK_TOKENS("A. muscaria and H. G. Wells", "A. muscaria and H. G. Wells");
  CHECK_TOKENS("e.g. this, i.e. that", "e.g. this , i.e. that");
  // No. is a prefix only before a number; Jr. and lit. are no prefixes (train: "Jr ." 39 times).
  CHECK_TOKENS("No. 5 and No. Never", "No. 5 and No . Never");
  CHECK_TOKENS("Smith Jr. The lit. Valkyria", "Smith Jr . The lit . Valkyria");
  // Before a lower-case word Moses keeps any period (train: "Jr. and" 8 times).
  CHECK_TOKENS("apples etc. and pears", "apples etc. and pears");
  // A period at the very end is split unless the word keeps it anyway (train: lines end "U.S.").
  CHECK_TOKENS("in the U.S.", "in the U.S.");
  CHECK_TOKENS("Wait... what? Hmm.... ok", "Wait ... what ? Hmm .... ok");
  CHECK_TOKENS("U.S.. end", "U.S .. end");
  CHECK_TOKENS("so \u2026 fine", "so \u2026 fine");  // the ellipsis character is a symbol
  CHECK_TOKENS("Hello!!! Really?!", "Hello ! ! ! Really ? !");
}

TEST_CASE("datasets wikitext_tokenize: quotes, brackets, currency and percent") {
  // ASCII double quotes stay as written: train has 28,309 " and no `` or ''.
  CHECK_TOKENS("\"Yes,\" she said.", "\" Yes , \" she said .");
  CHECK_TOKENS("'Hello,' he said.", "' Hello , ' he said .");
  CHECK_TOKENS("\u201cHi\u201d \u2018there\u2019", "\u201c Hi \u201d \u2018 there \u2019");
  CHECK_TOKENS("(about 5%) [1] {x}", "( about 5 % ) [ 1 ] { x }");
  CHECK_TOKENS("$3.50, 50%, \u00a35, \u20ac20, #1 & co", "$ 3 @.@ 50 , 50 % , \u00a3 5 , \u20ac 20 , # 1 & co");
  CHECK_TOKENS("a/b x;y x:y 2+2=4", "a / b x ; y x : y 2 + 2 = 4");
}

TEST_CASE("datasets wikitext_tokenize: URLs and e-mail addresses split as Moses splits them") {
  CHECK_TOKENS("mail foo@bar.com", "mail foo @ bar.com");
  CHECK_TOKENS("http://www.example.com/a-b", "http : / / www.example.com / a @-@ b");
}

TEST_CASE("datasets wikitext_tokenize: white space, empty text, non-ASCII letters") {
  CHECK(wikitext_tokenize("").empty());
  CHECK(wikitext_tokenize(" \t\n\r \u00a0\u3000 ").empty());
  CHECK_TOKENS("a\tb\nc\r\nd\u00a0e\u2009f", "a b c d e f");
  CHECK_TOKENS("  padded   words  ", "padded words");
  // Letters of any script stay whole; ² is a number but not a letter or digit, so it stands alone.
  CHECK_TOKENS("Senj\u014d no Valkyria 3: <unk> Chronicles", "Senj\u014d no Valkyria 3 : <unk> Chronicles");
  CHECK_TOKENS("\u6226\u5834\u306e\u30f4\u30a1\u30eb\u30ad\u30e5\u30ea\u30a23 na\u00efve caf\u00e9 km\u00b2",
               "\u6226\u5834\u306e\u30f4\u30a1\u30eb\u30ad\u30e5\u30ea\u30a23 na\u00efve caf\u00e9 km \u00b2");
  CHECK_TOKENS("cafe\u0301", "cafe\u0301");  // a combining mark stays with its letter
  // Format characters are dropped (MNLI dev has soft hyphens: "Flam?\u00adboy?\u00adant"); a zero-width
  // space separates; control characters go.
  CHECK_TOKENS("co\u00adoperate \ufeffbom zero\u200bwidth a\x01" "b", "cooperate bom zero width ab");
  // <unk> is one token, and splits as the word it replaced would (train: "<unk> 's", "<unk> @-@ like").
  CHECK_TOKENS("<unk>'s <unk>-like 1,<unk> <formula>.", "<unk> 's <unk> @-@ like 1 @,@ <unk> <formula> .");
}

TEST_CASE("datasets wikitext_tokenize: invalid UTF-8 is a clear error") {
  for (const std::string& bad : {std::string("ok \xff"), std::string("ok \xc3"), std::string("ok \xc0\xaf"),
                                 std::string("ok \xed\xa0\x80"), std::string("ok \xf4\x90\x80\x80"),
                                 std::string("ok \x80"), std::string("ok \xe2\x82")}) {
    const std::string e = error_of(bad);
    CHECK(has(e, "wikitext_tokenize: invalid UTF-8 at byte 3 of "));
  }
  CHECK(has(error_of("\xfe"), "invalid UTF-8 at byte 0 of 1 (0xfe)"));
  CHECK_THROWS_AS(wikitext_detokenize({"ok", "\xff"}), ember::Error);
}

TEST_CASE("datasets wikitext_tokenize: detokenize undoes markers and attaches punctuation") {
  CHECK(wikitext_detokenize({}) == "");
  CHECK(wikitext_detokenize(toks("The man 's dog didn 't run 3 @.@ 5 miles , did it ?")) ==
        "The man's dog didn't run 3.5 miles, did it?");
  CHECK(wikitext_detokenize(toks("well @-@ known 1 @,@ 000 people")) == "well-known 1,000 people");
  CHECK(wikitext_detokenize(toks("\" Yes , \" she said ( about 5 % ) . $ 3 @.@ 50")) ==
        "\"Yes,\" she said (about 5%). $3.50");
  CHECK(wikitext_detokenize(toks("' Hello , ' he said . The players ' team")) == "'Hello,' he said. The players' team");
  CHECK(wikitext_detokenize(toks("Wait ... what ? Mr. Smith")) == "Wait... what? Mr. Smith");
  // Where attaching would tokenise differently, a space stays: "U.S.." is a run of periods, and
  // "left. the" keeps its period before a lower-case word; "3. its" is how 3 @.@ its comes back.
  CHECK(wikitext_detokenize(toks("in the U.S. .")) == "in the U.S. .");
  CHECK(wikitext_detokenize(toks("he left . the end")) == "he left . the end");
  CHECK(wikitext_detokenize(toks("October 3 @.@ its")) == "October 3. its");
  CHECK(wikitext_detokenize(toks("<unk> 's <unk> @-@ like")) == "<unk>'s <unk>-like");
}

TEST_CASE("datasets wikitext_tokenize: round trip on generated text (no data needed)") {
  // Random sentences from pieces that exercise every rule; the tokens of each must come back
  // exactly from tokenize(detokenize(tokens)). Seeded; mt19937 is the same on every platform.
  const std::vector<std::string> pieces = {
      "the", "The", "man's", "didn't", "I'm", "O'Brien", "players'", "well-known", "state-of-the-art", "1,000",
      "3.14", "1,234.5", "-5", "5-10", "U.S.", "Mr.", "Dr.", "No.", "5", "e.g.", "etc.", "p.m.", "A.", "Jr.",
      "lit.", "end.", "stop.", "...", "\"", "'", "(", ")", "[", "]", "$3", "50%", "?", "!", ",", ";", ":",
      "Senj\u014d", "caf\u00e9", "\u201cHi\u201d", "\u2013", "rock'n'roll", "1990's", "<unk>", "<unk>'s", "a/b",
      "foo@bar.com", "x", "It", "so", "And", "3.", "1932,", "km\u00b2", "'90s", "4.5.", "Hmm...."};
  std::mt19937 rng(20240517u);
  const int kSentences = 3000;
  int exact = 0;
  std::string first_failure;
  for (int s = 0; s < kSentences; ++s) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 14);
    for (int k = 0; k < n; ++k) text += (k && rng() % 4 ? " " : k ? "" : "") + pieces[rng() % pieces.size()];
    const Tokens tokens = wikitext_tokenize(text);
    const Tokens back = wikitext_tokenize(wikitext_detokenize(tokens));
    if (back == tokens) ++exact;
    else if (first_failure.empty()) first_failure = text + "  →  " + joined(tokens) + "  ≠  " + joined(back);
  }
  MESSAGE("generated round trip: ", exact, " / ", kSentences, " exact",
          std::string(first_failure.empty() ? "" : "; first failure: ") + first_failure);
  // Measured: 2,999 / 3,000. The one that cannot come back is "'90s ''90s": Perl's first quote
  // rule uses up the second quote as its right neighbour, so "'90s" keeps its quote; written back
  // with the lone quote closing the first "'90s" ("'90s' '90s"), the second quote splits.
  CHECK(exact >= 2999);
}

TEST_CASE("datasets wikitext_tokenize: round trip on every line of WikiText-2 (EMBER_DATA)") {
  // Measured on shared/data: valid 2,461 / 2,461 and test 2,891 / 2,891 non-empty lines exact;
  // train 23,758 / 23,767 (99.962%). The 9 train lines that cannot come back all hold U+FEFF as a
  // token (a BOM inside a coordinates template, "W \ufeff / 51 @.@ ..."), which the tokenizer drops.
  struct Split {
    const char* name;
    int64_t max_failures;
  };
  for (const Split& split : {Split{"valid.txt", 0}, Split{"test.txt", 0}, Split{"train.txt", 9}}) {
    const std::string path = real_file("wikitext-2", split.name);
    if (path.empty()) continue;
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::string line;
    int64_t lines = 0, exact = 0, failures_without_bom = 0;
    while (std::getline(in, line)) {
      const Tokens tokens = split_words(line);
      if (tokens.empty()) continue;
      ++lines;
      if (wikitext_tokenize(wikitext_detokenize(tokens)) == tokens) ++exact;
      else if (line.find("\ufeff") == std::string::npos) ++failures_without_bom;
    }
    MESSAGE("WikiText-2 ", std::string(split.name), " round trip: ", exact, " / ", lines, " non-empty lines exact (",
            100.0 * double(exact) / double(lines), "%)");
    CHECK(lines > 2000);
    CHECK(lines - exact <= split.max_failures);
    CHECK(failures_without_bom == 0);
  }
}

TEST_CASE("datasets wikitext_tokenize: encode_wikitext ids, <unk> and the OOV count") {
  Vocab v;
  for (const char* w : {"<unk>", "the", "The", "I", "dog", "NASA"}) v.add(w);
  OovCount count;
  CHECK(encode_wikitext(toks("The dog the cat"), v, &count) == std::vector<int64_t>{2, 4, 1, 0});
  CHECK(count.tokens == 4);
  CHECK(count.unknown == 1);
  CHECK(encode_wikitext(toks("i Dog"), v, &count) == std::vector<int64_t>{0, 0});  // as written only
  CHECK(count.tokens == 6);
  CHECK(count.unknown == 3);
  CHECK(count.rate() == doctest::Approx(0.5));
  CHECK(OovCount{}.rate() == 0.0);
  // case_fallback: as written, then lower case, then first letter upper, then all upper.
  OovCount fb;
  CHECK(encode_wikitext(toks("i Dog DOG nasa THE cat"), v, &fb, true) == std::vector<int64_t>{3, 4, 4, 5, 1, 0});
  CHECK(fb.unknown == 1);
  CHECK(encode_wikitext({}, v, nullptr).empty());
  Vocab no_unk;
  no_unk.add("x");
  CHECK_THROWS_AS(encode_wikitext(toks("x"), no_unk), ember::Error);
}

TEST_CASE("datasets wikitext_tokenize: OOV rate of MNLI dev_matched against WikiText-2 (EMBER_DATA)") {
  const std::string mnli = real_file("mnli", "dev_matched.jsonl");
  const std::string train = real_file("wikitext-2", "train.txt");
  if (mnli.empty() || train.empty()) return;
  const Corpus corpus = load_wikitext(fs::path(train).parent_path().string());
  REQUIRE(corpus.vocab.size() == 33278);
  std::ifstream in(mnli, std::ios::binary);
  REQUIRE(in.good());
  OovCount exact, fallback;
  int64_t pairs = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    for (const char* field : {"premise", "hypothesis"}) {
      const Tokens tokens = wikitext_tokenize(j.at(field).get<std::string>());
      encode_wikitext(tokens, corpus.vocab, &exact);
      encode_wikitext(tokens, corpus.vocab, &fallback, /*case_fallback=*/true);
    }
    ++pairs;
  }
  MESSAGE("MNLI dev_matched (", pairs, " pairs, premises + hypotheses): ", exact.tokens, " tokens; OOV as written ",
          exact.unknown, " (", 100.0 * exact.rate(), "%), with case_fallback ", fallback.unknown, " (",
          100.0 * fallback.rate(), "%)");
  // Measured: 328,016 tokens; 17,656 unknown as written (5.38%), 14,798 with case_fallback (4.51%).
  CHECK(pairs == 9815);
  CHECK(exact.tokens == 328016);
  CHECK(exact.unknown == 17656);
  CHECK(fallback.unknown == 14798);
}
