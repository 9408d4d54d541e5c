// wikitext_tokenizer.cpp — Moses' English tokenizer (2016 tokenizer.perl, -a, -no-escape) with
// WikiText's number markers, its inverse for display, and vocabulary look-up with an OOV count.
//
// The Moses passes are kept in Moses' order and with Perl's s///g semantics (a match consumes
// its characters, so "a,,1" or "rock'n'roll" come out as Perl makes them), on UTF-32 text with
// two stand-ins above U+10FFFF: one for a literal "<unk>" and one for a run of periods (Moses'
// DOTMULTI). See the header for the rules and for where we deviate from Moses on purpose.
#include "datasets/wikitext_tokenizer.h"

#include <utf8proc.h>

#include <unordered_map>

namespace ember::datasets {

namespace {

using U32 = std::u32string;

constexpr char32_t kUnkMark = 0x110000;      // "<unk>": a letter and a number at once (header)
constexpr char32_t kFormulaMark = 0x110001;  // "<formula>", WikiText's other placeholder: a word
constexpr char32_t kDotsMark = 0x120000;  // + n: a run of n >= 2 periods, one token
constexpr char32_t kMaxCodePoint = 0x10FFFF;

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

// Perl's \p{IsAlpha}, less a few marks (header): letters, marks, letter numbers.
bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c == kUnkMark || c == kFormulaMark) return true;
  if (c > kMaxCodePoint) return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_NL:
      return true;
    default:
      return false;
  }
}
bool is_decimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return c <= kMaxCodePoint && category(c) == UTF8PROC_CATEGORY_ND;
}
// \p{IsN}: any number (Nd, Nl, No: ² ½ too).
bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  if (c == kUnkMark) return true;
  if (c > kMaxCodePoint) return false;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}
// \p{IsAlnum}: alphabetic or decimal digit (² is neither, so it stands alone as in WikiText).
bool is_alnum(char32_t c) { return is_alpha(c) || is_decimal(c); }
bool is_lower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  return c <= kMaxCodePoint && category(c) == UTF8PROC_CATEGORY_LL;
}
// Python's str.isspace(), as split_words uses (wikitext.cpp).
bool is_space(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}
// Control and format characters (soft hyphen, zero-width space, BOM): dropped, not tokens.
bool is_dropped(char32_t c) {
  if (c < 0x80) return c < 0x20 || c == 0x7F;
  const auto k = category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

// Strict UTF-8 (overlong forms, surrogates and > U+10FFFF rejected, as Python's decoder does).
U32 decode(const std::string& s, const char* who) {
  U32 out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
    const uint8_t b0 = b(0);
    size_t len = 0;
    char32_t cp = 0, min = 0;
    if (b0 < 0x80) len = 1, cp = b0;
    else if ((b0 & 0xE0) == 0xC0) len = 2, cp = b0 & 0x1F, min = 0x80;
    else if ((b0 & 0xF0) == 0xE0) len = 3, cp = b0 & 0x0F, min = 0x800;
    else if ((b0 & 0xF8) == 0xF0) len = 4, cp = b0 & 0x07, min = 0x10000;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (b(k) & 0xC0) == 0x80;
      cp = (cp << 6) | (b(k) & 0x3F);
    }
    ok = ok && cp >= min && cp <= kMaxCodePoint && !(cp >= 0xD800 && cp <= 0xDFFF);
    EMBER_CHECK(ok, who, ": invalid UTF-8 at byte ", i, " of ", s.size(), " (0x", std::hex, int(b0), std::dec,
                "); the text must be UTF-8");
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c == kUnkMark) {
    out += Vocab::kUnk;
  } else if (c == kFormulaMark) {
    out += "<formula>";
  } else if (c > kDotsMark) {
    out.append(c - kDotsMark, '.');
  } else if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}
std::string to_utf8(const U32& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

// Moses' nonbreaking_prefix.en of 2016: 1 = never ends a sentence, 2 = only before a number.
// (Later versions added the month abbreviations and Rs; WikiText has no "Jan." either way.)
int prefix_kind(const U32& word) {
  static const std::unordered_map<std::string, int> kPrefixes = [] {
    std::unordered_map<std::string, int> m;
    for (char c = 'A'; c <= 'Z'; ++c) m[std::string(1, c)] = 1;
    for (const char* w : {"Adj", "Adm", "Adv", "Asst", "Bart", "Bldg", "Brig", "Bros", "Capt", "Cmdr", "Col", "Comdr",
                          "Con", "Corp", "Cpl", "DR", "Dr", "Drs", "Ens", "Gen", "Gov", "Hon", "Hr", "Hosp", "Insp",
                          "Lt", "MM", "MR", "MRS", "MS", "Maj", "Messrs", "Mlle", "Mme", "Mr", "Mrs", "Ms", "Msgr",
                          "Op", "Ord", "Pfc", "Ph", "Prof", "Pvt", "Rep", "Reps", "Res", "Rev", "Rt", "Sen", "Sens",
                          "Sfc", "Sgt", "Sr", "St", "Supt", "Surg", "v", "vs", "i.e", "rev", "e.g", "Nos", "Nr"})
      m[w] = 1;
    for (const char* w : {"No", "Art", "pp"}) m[w] = 2;
    return m;
  }();
  if (word.size() > 8) return 0;
  const auto it = kPrefixes.find(to_utf8(word));
  return it == kPrefixes.end() ? 0 : it->second;
}

// ---- the Moses passes, each one s///g over the whole text ----

// White space → one space, control/format characters dropped, "<unk>" and "<formula>" → their
// marks, and one space at each end (our deviation: the text's edges act as white space).
U32 normalise(const U32& in) {
  static const U32 kUnkText = U"<unk>", kFormulaText = U"<formula>";
  U32 s = U" ";
  for (size_t i = 0; i < in.size(); ++i) {
    const char32_t c = in[i];
    if (c == '<' && in.compare(i, kUnkText.size(), kUnkText) == 0) {
      s.push_back(kUnkMark);
      i += kUnkText.size() - 1;
    } else if (c == '<' && in.compare(i, kFormulaText.size(), kFormulaText) == 0) {
      s.push_back(kFormulaMark);
      i += kFormulaText.size() - 1;
    } else if (is_space(c) || c == 0x200B) {  // a zero-width space separates words too
      if (s.back() != ' ') s.push_back(' ');
    } else if (!is_dropped(c)) {
      s.push_back(c);
    }
  }
  if (s.back() != ' ') s.push_back(' ');
  return s;
}

// s/([^\p{IsAlnum}\s\.\'\`\,\-])/ $1 /g
U32 split_specials(const U32& s) {
  U32 out;
  out.reserve(s.size() * 2);
  for (char32_t c : s) {
    if (c == ' ' || c == '.' || c == '\'' || c == '`' || c == ',' || c == '-' || is_alnum(c)) {
      out.push_back(c);
    } else {
      out.push_back(' ');
      out.push_back(c);
      out.push_back(' ');
    }
  }
  return out;
}

// s/([\p{IsAlnum}])\-(?=[\p{IsAlnum}])/$1 \@-\@ /g
U32 split_hyphens(const U32& s) {
  U32 out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-' && i > 0 && i + 1 < s.size() && is_alnum(s[i - 1]) && is_alnum(s[i + 1])) out += U" @-@ ";
    else out.push_back(s[i]);
  }
  return out;
}

// s/\.([\.]+)/ DOTMULTI$1/g and its loop: a run of two or more periods becomes one spaced token.
U32 mark_dot_runs(const U32& s) {
  U32 out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t j = i;
    while (j < s.size() && s[j] == '.') ++j;
    if (j - i >= 2) {
      out.push_back(' ');
      out.push_back(kDotsMark + static_cast<char32_t>(j - i));
      out.push_back(' ');
      i = j;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// One Perl substitution s/(P)(M)(Q)/$1 <mid> $3/g with the three-character pattern (prev, m, next),
// where a match consumes all three characters, as Perl's does. `mid` replaces m.
template <class P, class Q>
U32 sub3(const U32& s, char32_t m, P prev_ok, Q next_ok, const U32& mid) {
  U32 out;
  out.reserve(s.size() + 16);
  size_t i = 0;
  while (i < s.size()) {
    if (i + 2 < s.size() && s[i + 1] == m && prev_ok(s[i]) && next_ok(s[i + 2])) {
      out.push_back(s[i]);
      out += mid;
      out.push_back(s[i + 2]);
      i += 3;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

// s/([^\p{IsN}])[,]/$1 , /g; s/[,]([^\p{IsN}])/ , $1/g — a comma stays only inside a number.
U32 split_commas(const U32& s) {
  U32 a;
  a.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && s[i + 1] == ',' && !is_number(s[i])) {
      a.push_back(s[i]);
      a += U" , ";
      i += 2;
    } else {
      a.push_back(s[i++]);
    }
  }
  U32 b;
  b.reserve(a.size() + 16);
  for (size_t i = 0; i < a.size();) {
    // Moses 2016 had no rule for a comma that ends the text after a number ("in 1932,"): it stays,
    // and WikiText made it 1932 @,@ (train has such lines).
    const bool text_end_after_number = i + 2 == a.size() && i > 0 && is_number(a[i - 1]);
    if (i + 1 < a.size() && a[i] == ',' && !is_number(a[i + 1]) && !text_end_after_number) {
      b += U" , ";
      b.push_back(a[i + 1]);
      i += 2;
    } else {
      b.push_back(a[i++]);
    }
  }
  return b;
}

// Moses' English contractions, split to the right (don 't, man 's, O 'Brien, 1990 's).
U32 split_apostrophes(U32 s) {
  const auto alpha = [](char32_t c) { return is_alpha(c); };
  const auto not_alpha = [](char32_t c) { return !is_alpha(c); };
  const auto neither = [](char32_t c) { return !is_alpha(c) && !is_number(c); };
  const auto number = [](char32_t c) { return is_number(c); };
  const auto letter_s = [](char32_t c) { return c == 's'; };
  s = sub3(s, '\'', not_alpha, not_alpha, U" ' ");
  s = sub3(s, '\'', neither, alpha, U" ' ");
  s = sub3(s, '\'', alpha, not_alpha, U" ' ");
  s = sub3(s, '\'', alpha, alpha, U" '");
  s = sub3(s, '\'', number, letter_s, U" '");  // "1990's"
  return s;
}

// Whether Moses keeps the period of the word pre + "." when `next` is the word after it (empty
// if none): a non-breaking prefix, a word holding another period and a letter (U.S.), or a word
// before a lower-case one; a numeric-only prefix (No.) before a digit.
bool period_kept(const U32& pre, const U32& next) {
  bool has_period = false, has_alpha = false;
  for (char32_t c : pre) has_period |= c == '.', has_alpha |= is_alpha(c);
  const int kind = prefix_kind(pre);
  // <unk> stands for a word of either case or a number: keeping the period is the reading that
  // a detokeniser cannot express with spacing, so <unk> counts as lower-case and as a digit here.
  const char32_t n = next.empty() ? 0 : next[0];
  if ((has_period && has_alpha) || kind == 1 || is_lower(n) || n == kUnkMark) return true;
  return kind == 2 && ((n >= '0' && n <= '9') || n == kUnkMark);
}

// The word-final period rule over the space-separated words.
std::vector<U32> split_final_periods(const U32& s) {
  std::vector<U32> words;
  for (size_t i = 0; i < s.size();) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) words.push_back(s.substr(i, j - i));
    i = j;
  }
  std::vector<U32> out;
  out.reserve(words.size() + 8);
  for (size_t i = 0; i < words.size(); ++i) {
    U32& w = words[i];
    if (w.size() >= 2 && w.back() == '.') {
      U32 pre = w.substr(0, w.size() - 1);
      if (!period_kept(pre, i + 1 < words.size() ? words[i + 1] : U32())) {
        out.push_back(std::move(pre));
        out.push_back(U".");
        continue;
      }
    }
    out.push_back(std::move(w));
  }
  return out;
}

// WikiText's number markers, on a token made only of digits, commas and periods (1,000th and 1.e4
// stay whole, as in train): 1,000 → 1 @,@ 000; 3.14 → 3 @.@ 14; a separator that ends such a
// token (Moses kept it: "3." before a lower-case word, "1932," at the text's end) → 3 @.@, 1932 @,@.
void push_with_number_markers(const U32& w, std::vector<std::string>& out) {
  bool numeric = is_number(w[0]);
  for (char32_t c : w) numeric = numeric && (is_number(c) || c == ',' || c == '.');
  if (!numeric) {
    out.push_back(to_utf8(w));
    return;
  }
  size_t start = 0;
  for (size_t j = 1; j < w.size(); ++j) {
    if ((w[j] != ',' && w[j] != '.') || !is_number(w[j - 1]) || (j + 1 < w.size() && !is_number(w[j + 1]))) continue;
    out.push_back(to_utf8(w.substr(start, j - start)));
    out.push_back(w[j] == ',' ? "@,@" : "@.@");
    start = j + 1;
  }
  if (start < w.size()) out.push_back(to_utf8(w.substr(start)));
}

std::vector<std::string> tokenize_u32(const U32& text) {
  U32 s = normalise(text);
  s = split_specials(s);
  s = split_hyphens(s);
  s = mark_dot_runs(s);
  s = split_commas(s);
  s = split_apostrophes(std::move(s));
  std::vector<std::string> tokens;
  for (const U32& w : split_final_periods(s)) push_with_number_markers(w, tokens);
  return tokens;
}

// ---- detokenising ----

bool is_marker(const std::string& t) { return t == "@-@" || t == "@,@" || t == "@.@"; }

// The first / last code point of a token ("<unk>" counts as kUnkMark); 0 for an empty one.
char32_t first_cp(const std::string& t) {
  if (t.compare(0, 5, Vocab::kUnk) == 0) return kUnkMark;
  size_t n = 1;
  while (n < t.size() && (static_cast<uint8_t>(t[n]) & 0xC0) == 0x80) ++n;
  return t.empty() ? 0 : decode(t.substr(0, n), "wikitext_detokenize")[0];
}
char32_t last_cp(const std::string& t) {
  if (t.size() >= 5 && t.compare(t.size() - 5, 5, Vocab::kUnk) == 0) return kUnkMark;
  size_t i = t.empty() ? 0 : t.size() - 1;
  while (i > 0 && (static_cast<uint8_t>(t[i]) & 0xC0) == 0x80) --i;
  return t.empty() ? 0 : decode(t.substr(i), "wikitext_detokenize")[0];
}

bool is_dot_run(const std::string& t) { return t.size() >= 2 && t.find_first_not_of('.') == std::string::npos; }

// Tokens that, for display, attach to the word before / the word after.
bool attaches_left(const std::string& t) {
  static const char* const kLeft[] = {".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "”", "’", "»"};
  for (const char* k : kLeft)
    if (t == k) return true;
  return is_dot_run(t);
}
bool attaches_right(const std::string& t) {
  static const char* const kRight[] = {"(", "[", "{", "$", "£", "€", "¥", "#", "“", "‘", "«"};
  for (const char* k : kRight)
    if (t == k) return true;
  return false;
}

struct QuoteState {
  bool double_open = false, single_open = false;
};
struct Placement {
  bool left = false;   // attach to the text before
  bool right = false;  // attach the next token to this one
};

// How token i would sit in ordinary text. Quotes alternate open / close; a lone ' after an s is a
// plural possessive (players'). wikitext_detokenize attaches only where the tokens come back.
Placement display_placement(const std::vector<std::string>& tokens, size_t i, QuoteState& q) {
  const std::string& t = tokens[i];
  Placement p;
  if (t.size() >= 2 && t[0] == '\'') {  // 's 't 're 'Brien, and '90s / 'n'roll where Perl kept them
    p.left = true;
  } else if (t == "\"") {
    p.left = q.double_open;
    p.right = !q.double_open;
    q.double_open = !q.double_open;
  } else if (t == "'") {
    const char32_t before = i ? last_cp(tokens[i - 1]) : 0;
    const char32_t after = i + 1 < tokens.size() ? first_cp(tokens[i + 1]) : 0;
    if (q.single_open || before == 's' || before == 'S' || !is_alnum(after)) {
      p.left = true;
      q.single_open = false;
    } else {
      p.right = true;
      q.single_open = true;
    }
  } else {
    p.left = attaches_left(t);
    p.right = attaches_right(t);
  }
  return p;
}

}  // namespace

std::vector<std::string> wikitext_tokenize(const std::string& text) {
  return tokenize_u32(decode(text, "wikitext_tokenize"));
}

std::string wikitext_detokenize(const std::vector<std::string>& tokens) {
  std::string out;
  // The last two space-separated stretches of `out` and the tokens each was written from. An
  // attachment is tried on both, because a Moses rule can use up the space between them (in
  // ". ' '3" the first quote's match takes the space the second one needs).
  std::vector<std::string> prev_chunk, chunk;
  size_t prev_start = 0, chunk_start = 0;
  bool glue_forced = false;  // after @-@, @,@ and a joining @.@: the next token must attach
  bool glue_wanted = false;  // after an opening bracket, currency sign or quote
  QuoteState quotes;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (i > 0 && is_marker(t)) {
      out += t[1];
      chunk.push_back(t);
      // 3 @.@ its: "3.its" would stay one token, "3. its" gives 3 @.@ its back.
      glue_forced = t != "@.@" || (i + 1 < tokens.size() && is_number(first_cp(tokens[i + 1])));
      glue_wanted = false;
      continue;
    }
    const Placement place = display_placement(tokens, i, quotes);
    bool join = i > 0 && glue_forced;
    if (i > 0 && !glue_forced && (place.left || glue_wanted)) {
      // Attach if the two stretches then tokenise exactly as the tokens they came from, or (when
      // they do not even without t: Perl's rules can reach across into the stretch before them)
      // if attaching leaves their tokens as they are and gives t itself.
      const std::string next = i + 1 < tokens.size() && !is_marker(tokens[i + 1]) ? tokens[i + 1] : std::string();
      const std::string context = out.substr(prev_start);
      const std::vector<std::string> joined = wikitext_tokenize(context + t + " " + next);
      const std::vector<std::string> tail = wikitext_tokenize(next);
      const auto same = [&](std::vector<std::string> want) {
        want.push_back(t);
        want.insert(want.end(), tail.begin(), tail.end());
        return joined == want;
      };
      std::vector<std::string> written = prev_chunk;
      written.insert(written.end(), chunk.begin(), chunk.end());
      join = same(written);
      if (!join) {
        std::vector<std::string> alone = wikitext_tokenize(context);
        join = alone != written && same(std::move(alone));
      }
    }
    if (i > 0 && !join) {
      out += ' ';
      prev_chunk = std::move(chunk);
      chunk.clear();
      prev_start = chunk_start;
      chunk_start = out.size();
    }
    out += t;
    chunk.push_back(t);
    glue_forced = false;
    glue_wanted = place.right;
  }
  decode(out, "wikitext_detokenize");  // a token that is not UTF-8 is an error here too
  return out;
}

std::vector<int64_t> encode_wikitext(const std::vector<std::string>& tokens, const Vocab& vocab, OovCount* count,
                                     bool case_fallback) {
  const int64_t unk = vocab.unk_id();
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  int64_t unknown = 0;
  for (const std::string& t : tokens) {
    int64_t id = vocab.encode(t);
    if (id == unk && case_fallback && t != Vocab::kUnk) {
      const U32 u = decode(t, "encode_wikitext");
      U32 lower = u, title = u, upper = u;
      for (size_t k = 0; k < u.size(); ++k) {
        lower[k] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(u[k])));
        upper[k] = static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(u[k])));
        title[k] = k == 0 ? upper[k] : lower[k];
      }
      for (const U32* form : {&lower, &title, &upper}) {
        id = vocab.encode(to_utf8(*form));
        if (id != unk) break;
      }
    }
    unknown += id == unk;
    ids.push_back(id);
  }
  if (count) count->tokens += static_cast<int64_t>(tokens.size()), count->unknown += unknown;
  return ids;
}

}  // namespace ember::datasets
