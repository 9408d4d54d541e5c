// wordpiece.cpp — HF BertTokenizer (slow) in C++: vocabulary loading, BasicTokenizer's
// cleaning / CJK spacing / lower-casing / accent stripping / punctuation splitting on UTF-32
// code points, greedy WordPiece on UTF-8 keys, [CLS] a [SEP] b [SEP] with longest_first
// truncation, and batch padding. The steps and their order are listed in wordpiece.h.
#include "datasets/wordpiece.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

namespace ember::datasets {

namespace {

// HF's default special tokens (all_special_tokens), whatever the vocabulary holds: the regex of
// PreTrainedTokenizer.tokenize keeps them from lower-casing, BasicTokenizer never splits them.
const std::array<std::u32string, 5> kSpecials = {U"[UNK]", U"[SEP]", U"[PAD]", U"[CLS]", U"[MASK]"};
constexpr size_t kMaxInputCharsPerWord = 100;  // WordpieceTokenizer.max_input_chars_per_word

// The length of the special token that text[i..n) starts with, or 0.
size_t special_at(const char32_t* text, size_t i, size_t n) {
  if (text[i] != U'[') return 0;
  for (const std::u32string& s : kSpecials)
    if (n - i >= s.size() && std::equal(s.begin(), s.end(), text + i)) return s.size();
  return 0;
}

bool is_special(const char32_t* w, size_t n) { return n >= 5 && special_at(w, 0, n) == n; }

utf8proc_category_t category(char32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)); }

// transformers.tokenization_utils._is_control: category C*, but \t \n \r count as whitespace.
bool is_control(char32_t cp) {
  if (cp == U'\t' || cp == U'\n' || cp == U'\r') return false;
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

// _is_whitespace: space, \t \n \r, or category Zs.
bool is_hf_whitespace(char32_t cp) {
  return cp == U' ' || cp == U'\t' || cp == U'\n' || cp == U'\r' || category(cp) == UTF8PROC_CATEGORY_ZS;
}

// _is_punctuation: every non-alphanumeric printable ASCII character, or category P*.
bool is_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  const utf8proc_category_t c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

// BasicTokenizer._is_chinese_char: HF's CJK ranges, copied as they are.
bool is_chinese(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Python's str.isspace(): category Zs, or bidirectional class B, S or WS.
bool is_py_space(char32_t cp) {
  if (cp < 0x80) return cp == U' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_B ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_S || p->bidi_class == UTF8PROC_BIDI_CLASS_WS;
}

// Python's c.lower() appended to out: utf8proc's simple mapping, plus the one unconditional
// full mapping of SpecialCasing.txt that differs from it (U+0130 → i + COMBINING DOT ABOVE).
void append_lower(char32_t cp, std::u32string& out) {
  if (cp < 0x80) {
    out.push_back(cp >= U'A' && cp <= U'Z' ? cp + 32 : cp);
  } else if (cp == 0x130) {
    out.push_back(U'i');
    out.push_back(0x307);
  } else {
    out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp))));
  }
}

void append_utf8(char32_t cp, std::string& out) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

// text → code points; invalid UTF-8 is an error naming the byte (`what` names the input).
void decode_utf8(const std::string& text, std::u32string& out, const char* what) {
  out.clear();
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      out.push_back(s[i++]);
      continue;
    }
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t len = utf8proc_iterate(s + i, static_cast<utf8proc_ssize_t>(n - i), &cp);
    EMBER_CHECK(len > 0 && cp >= 0, what, ": invalid UTF-8 at byte ", i, " of ", n, " (0x", std::hex,
                int(s[i]), std::dec, "); WordPieceTokenizer needs UTF-8 text");
    out.push_back(static_cast<char32_t>(cp));
    i += static_cast<size_t>(len);
  }
}

// NFD of w with every Mn code point removed (_run_strip_accents), into out. utf8proc's
// decomposition works on UTF-8, so w is re-encoded first; it also does the canonical reordering.
void strip_accents(const std::u32string& w, std::string& utf8, std::vector<utf8proc_int32_t>& nfd,
                   std::u32string& out) {
  utf8.clear();
  for (char32_t cp : w) append_utf8(cp, utf8);
  const auto* s = reinterpret_cast<const utf8proc_uint8_t*>(utf8.data());
  const auto len = static_cast<utf8proc_ssize_t>(utf8.size());
  const utf8proc_option_t opts = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE);
  if (nfd.size() < w.size() * 4 + 8) nfd.resize(w.size() * 4 + 8);
  utf8proc_ssize_t n = utf8proc_decompose(s, len, nfd.data(), static_cast<utf8proc_ssize_t>(nfd.size()), opts);
  if (n > static_cast<utf8proc_ssize_t>(nfd.size())) {
    nfd.resize(static_cast<size_t>(n));
    n = utf8proc_decompose(s, len, nfd.data(), n, opts);
  }
  EMBER_CHECK(n >= 0, "WordPieceTokenizer: NFD failed: ", utf8proc_errmsg(n));
  out.clear();
  for (utf8proc_ssize_t i = 0; i < n; ++i)
    if (category(static_cast<char32_t>(nfd[i])) != UTF8PROC_CATEGORY_MN) out.push_back(static_cast<char32_t>(nfd[i]));
}

// Steps 1-3 of wordpiece.h into out: PreTrainedTokenizer.tokenize's character-by-character
// lower-casing that leaves special tokens alone (when lower), then _clean_text and
// _tokenize_chinese_chars in one pass.
void normalize_text(const std::u32string& cps, bool lower, std::u32string& out) {
  std::u32string lowered;
  const char32_t* src = cps.data();
  size_t n = cps.size();
  if (lower) {
    lowered.reserve(n + 8);
    for (size_t i = 0; i < n;) {
      if (size_t len = special_at(src, i, n)) {
        lowered.append(src + i, len);
        i += len;
      } else {
        append_lower(src[i++], lowered);
      }
    }
    src = lowered.data();
    n = lowered.size();
  }
  out.clear();
  out.reserve(n + 16);
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = src[i];
    if (c < 0x80) {  // ASCII: the common case, no table look-ups
      if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r') out.push_back(U' ');
      else if (c >= 0x20 && c != 0x7F) out.push_back(c);
      continue;  // other ASCII controls (U+0000 included) are dropped
    }
    if (c == 0xFFFD || is_control(c)) continue;
    if (is_hf_whitespace(c)) {
      out.push_back(U' ');
    } else if (is_chinese(c)) {
      out.push_back(U' ');
      out.push_back(c);
      out.push_back(U' ');
    } else {
      out.push_back(c);
    }
  }
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(in.good(), "WordPieceTokenizer: cannot open vocabulary file ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  EMBER_CHECK(!in.bad(), "WordPieceTokenizer: error reading ", path);
  return ss.str();
}

}  // namespace

// ---- vocabulary ----

WordPieceTokenizer WordPieceTokenizer::from_vocab_file(const std::string& path, bool do_lower_case) {
  const std::string text = read_whole_file(path);
  EMBER_CHECK(!text.empty(), "WordPieceTokenizer: vocabulary file ", path, " is empty (expected one token per line)");
  std::u32string check;
  decode_utf8(text, check, ("WordPieceTokenizer: vocabulary file " + path).c_str());

  WordPieceTokenizer t;
  t.lower_ = do_lower_case;
  // Python's universal newlines: \n, \r\n and \r end a line; a last line without one counts.
  auto add = [&](size_t begin, size_t end) {
    std::string tok = text.substr(begin, end - begin);
    const auto id = static_cast<int64_t>(t.tokens_.size());
    auto [it, fresh] = t.ids_.emplace(tok, id);
    EMBER_CHECK(fresh, "WordPieceTokenizer: ", path, ":", id + 1, ": token '", tok, "' appears twice (first on line ",
                it->second + 1, ")");
    size_t chars = 0;
    for (char c : tok) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    t.max_token_chars_ = std::max(t.max_token_chars_, chars);
    t.tokens_.push_back(std::move(tok));
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n' && text[i] != '\r') continue;
    add(start, i);
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < text.size()) add(start, text.size());

  std::string missing;
  auto special = [&](const char* name) -> int64_t {
    auto it = t.ids_.find(name);
    if (it != t.ids_.end()) return it->second;
    missing += missing.empty() ? name : std::string(", ") + name;
    return -1;
  };
  t.unk_id_ = special("[UNK]");
  t.cls_id_ = special("[CLS]");
  t.sep_id_ = special("[SEP]");
  t.pad_id_ = special("[PAD]");
  EMBER_CHECK(missing.empty(), "WordPieceTokenizer: vocabulary file ", path, " (", t.tokens_.size(),
              " tokens) lacks the special token(s) ", missing, "; a BERT vocabulary has [PAD] [UNK] [CLS] [SEP]");
  return t;
}

int64_t WordPieceTokenizer::token_id(const std::string& tok) const {
  auto it = ids_.find(tok);
  EMBER_CHECK(it != ids_.end(), "WordPieceTokenizer::token_id: '", tok, "' is not in the vocabulary (", vocab_size(),
              " tokens)");
  return it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int64_t id) const {
  EMBER_CHECK(id >= 0 && id < vocab_size(), "WordPieceTokenizer::id_to_token: id ", id, " out of range [0, ",
              vocab_size(), ")");
  return tokens_[static_cast<size_t>(id)];
}

// ---- tokenizing ----

// WordpieceTokenizer.tokenize of one piece (no whitespace in it): greedy longest match first.
// key and offsets are scratch buffers, kept by the caller so the hot loop does not allocate.
void WordPieceTokenizer::wordpiece(const char32_t* cps, size_t n, std::vector<int64_t>& out, std::string& key,
                                   std::vector<size_t>& offsets) const {
  if (n == 0) return;
  if (n > kMaxInputCharsPerWord) {
    out.push_back(unk_id_);
    return;
  }
  std::string utf8;
  offsets.assign(1, 0);
  for (size_t i = 0; i < n; ++i) {
    append_utf8(cps[i], utf8);
    offsets.push_back(utf8.size());
  }
  const size_t first = out.size();
  for (size_t start = 0; start < n;) {
    const size_t prefix = start > 0 ? 2 : 0;  // "##"
    // No entry is longer than max_token_chars_ code points, so longer candidates cannot match.
    size_t end = std::min(n, start + (max_token_chars_ > prefix ? max_token_chars_ - prefix : 0));
    int64_t found = -1;
    for (; end > start; --end) {
      key.assign(prefix ? "##" : "");
      key.append(utf8, offsets[start], offsets[end] - offsets[start]);
      auto it = ids_.find(key);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // the whole piece becomes [UNK]
      out.resize(first);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::encode_into(const std::string& text, std::vector<int64_t>& out) const {
  std::u32string cps, clean, word, stripped;
  decode_utf8(text, cps, "WordPieceTokenizer");
  normalize_text(cps, lower_, clean);

  // 4-6. words (str.split), then per word: never_split, lower + strip accents, punctuation split,
  // WordPiece. Splitting the pieces again on str.isspace is the second whitespace_tokenize.
  std::string key, utf8;
  std::vector<size_t> offsets;
  std::vector<utf8proc_int32_t> nfd;
  for (size_t i = 0, m = clean.size(); i < m;) {
    while (i < m && is_py_space(clean[i])) ++i;
    size_t j = i;
    while (j < m && !is_py_space(clean[j])) ++j;
    if (j == i) break;
    const char32_t* w = clean.data() + i;
    size_t wn = j - i;
    i = j;
    if (is_special(w, wn)) {
      wordpiece(w, wn, out, key, offsets);
      continue;
    }
    if (lower_) {
      bool ascii = true;
      word.clear();
      for (size_t k = 0; k < wn; ++k) {
        ascii = ascii && w[k] < 0x80;
        append_lower(w[k], word);
      }
      if (!ascii) {
        strip_accents(word, utf8, nfd, stripped);
        word.swap(stripped);
      }
      w = word.data();
      wn = word.size();
      if (is_special(w, wn)) {  // _run_split_on_punc's own never_split check
        wordpiece(w, wn, out, key, offsets);
        continue;
      }
    }
    size_t piece = 0;
    for (size_t k = 0; k < wn; ++k) {
      if (is_punctuation(w[k]) || is_py_space(w[k])) {
        wordpiece(w + piece, k - piece, out, key, offsets);
        if (!is_py_space(w[k])) wordpiece(w + k, 1, out, key, offsets);
        piece = k + 1;
      }
    }
    wordpiece(w + piece, wn - piece, out, key, offsets);
  }
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  encode_into(text, ids);
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> tokens;
  for (int64_t id : encode(text)) tokens.push_back(tokens_[static_cast<size_t>(id)]);
  return tokens;
}

// ---- model inputs ----

BertEncoding WordPieceTokenizer::encode_pair(const std::string& a, const std::string& b, int64_t max_length) const {
  std::vector<int64_t> ia = encode(a), ib = encode(b);
  const auto total = static_cast<int64_t>(ia.size() + ib.size() + 3);
  if (max_length > 0 && total > max_length) {
    // truncate_sequences, longest_first: one token per step from the longer, ties from b.
    for (int64_t k = 0; k < total - max_length; ++k) {
      if (ia.size() > ib.size()) ia.pop_back();
      else if (!ib.empty()) ib.pop_back();
    }
  }
  BertEncoding e;
  e.input_ids.reserve(ia.size() + ib.size() + 3);
  e.input_ids.push_back(cls_id_);
  e.input_ids.insert(e.input_ids.end(), ia.begin(), ia.end());
  e.input_ids.push_back(sep_id_);
  e.token_type_ids.assign(e.input_ids.size(), 0);
  e.input_ids.insert(e.input_ids.end(), ib.begin(), ib.end());
  e.input_ids.push_back(sep_id_);
  e.token_type_ids.resize(e.input_ids.size(), 1);
  e.attention_mask.assign(e.input_ids.size(), 1);
  return e;
}

BertEncoding WordPieceTokenizer::encode_single(const std::string& a, int64_t max_length) const {
  std::vector<int64_t> ia = encode(a);
  const auto total = static_cast<int64_t>(ia.size() + 2);
  if (max_length > 0 && total > max_length) {
    const int64_t remove = total - max_length;
    // HF only truncates when a is longer than what must go; else it logs an error and keeps a.
    if (static_cast<int64_t>(ia.size()) > remove) ia.resize(ia.size() - static_cast<size_t>(remove));
  }
  BertEncoding e;
  e.input_ids.reserve(ia.size() + 2);
  e.input_ids.push_back(cls_id_);
  e.input_ids.insert(e.input_ids.end(), ia.begin(), ia.end());
  e.input_ids.push_back(sep_id_);
  e.token_type_ids.assign(e.input_ids.size(), 0);
  e.attention_mask.assign(e.input_ids.size(), 1);
  return e;
}

BertBatch pad_bert_batch(const std::vector<BertEncoding>& encodings, int64_t pad_id) {
  EMBER_CHECK(!encodings.empty(), "pad_bert_batch: no encodings to batch");
  size_t t = 0;
  for (size_t i = 0; i < encodings.size(); ++i) {
    const BertEncoding& e = encodings[i];
    EMBER_CHECK(e.token_type_ids.size() == e.input_ids.size() && e.attention_mask.size() == e.input_ids.size(),
                "pad_bert_batch: encoding ", i, " has ", e.input_ids.size(), " input_ids but ", e.token_type_ids.size(),
                " token_type_ids and ", e.attention_mask.size(), " attention_mask entries");
    t = std::max(t, e.input_ids.size());
  }
  const size_t b = encodings.size();
  std::vector<int64_t> ids(b * t, pad_id), types(b * t, 0), mask(b * t, 0);
  for (size_t i = 0; i < b; ++i) {
    const BertEncoding& e = encodings[i];
    std::copy(e.input_ids.begin(), e.input_ids.end(), ids.begin() + static_cast<std::ptrdiff_t>(i * t));
    std::copy(e.token_type_ids.begin(), e.token_type_ids.end(), types.begin() + static_cast<std::ptrdiff_t>(i * t));
    std::copy(e.attention_mask.begin(), e.attention_mask.end(), mask.begin() + static_cast<std::ptrdiff_t>(i * t));
  }
  const Shape shape = {static_cast<int64_t>(b), static_cast<int64_t>(t)};
  return {from_vector<int64_t>(ids, shape), from_vector<int64_t>(types, shape), from_vector<int64_t>(mask, shape)};
}

// ---- per-code-point rules, for the tests ----

namespace detail {

unsigned wordpiece_char_flags(char32_t cp) {
  unsigned f = 0;
  if (cp == 0 || cp == 0xFFFD || is_control(cp)) f |= kWpDropped;
  if (is_hf_whitespace(cp)) f |= kWpWhitespace;
  if (is_punctuation(cp)) f |= kWpPunctuation;
  if (is_chinese(cp)) f |= kWpChinese;
  if (is_py_space(cp)) f |= kWpPySpace;
  return f;
}

std::u32string wordpiece_lower_strip(char32_t cp) {
  std::u32string lowered, out;
  append_lower(cp, lowered);
  std::string utf8;
  std::vector<utf8proc_int32_t> nfd;
  strip_accents(lowered, utf8, nfd, out);
  return out;
}

}  // namespace detail

}  // namespace ember::datasets
