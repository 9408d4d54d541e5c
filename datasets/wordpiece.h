// wordpiece.h — BERT's WordPiece tokenizer, an exact copy of Hugging Face's slow (Python)
// BertTokenizer as transformers 4.30 runs it with its defaults (tokenize_chinese_chars=True,
// strip_accents=None, never_split=None), plus the [CLS] a [SEP] b [SEP] encodings that
// tokenizer(a, b, max_length=L, truncation=True) returns and their padding into batches.
//
// tokenize(text) is PreTrainedTokenizer.tokenize + BertTokenizer._tokenize, in HF's order:
//  1. (do_lower_case) every character is lower-cased on its own (Python's str.lower, so
//     U+0130 'İ' → "i̇" and Σ is always σ), except where the text holds one of the special
//     tokens [UNK] [SEP] [PAD] [CLS] [MASK] verbatim (HF's regex in tokenize());
//  2. _clean_text: U+0000, U+FFFD and control characters (category C*: Cc Cf Cs Co Cn, but not
//     \t \n \r) are dropped; \t \n \r, ' ' and category Zs become ' ';
//  3. _tokenize_chinese_chars: ' ' around every code point of HF's CJK ranges;
//  4. split on whitespace as Python's str.split() does (also U+2028, U+2029);
//  5. each word that is exactly a special token is kept whole (never_split); any other is
//     lower-cased, NFD-normalised with its Mn (non-spacing marks) removed (do_lower_case), then
//     split before and after every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, or
//     category P*);
//  6. WordPiece on each piece: greedy longest match first, continuations prefixed "##"; a piece
//     of more than 100 code points, or one with a part no vocabulary entry covers, is [UNK].
// So "[SEP]" inside text is the [SEP] token when it stands alone between spaces, while
// "x[SEP]y" and "[sep]" are split like any text. With do_lower_case = false steps 1 and the
// lower/strip of 5 are skipped (HF: strip_accents=None follows do_lower_case).
//
// Unicode data comes from utf8proc (categories, simple lower-case mapping, NFD); the only hand-
// written data are HF's CJK ranges and U+0130's two-character lower case (the one full mapping
// Python applies that is not a simple one). Residual difference, from the Unicode versions:
// Python 3.11 knows Unicode 14.0, Debian's utf8proc 2.8 knows 15.0. The 4,489 code points first
// assigned in 15.0 (e.g. CJK Extension H U+31350.., new emoji such as U+1FA75) are unassigned
// (Cn) to Python, so HF drops them as control characters; here 4,482 of them keep their 15.0
// category (usually giving [UNK]; the other 7 are format characters, dropped by both).
// tests/test_wordpiece.cpp checks every code point against Python's answers and allows a
// difference only there. Real text is unaffected (0 of 29,489 MNLI/SNLI dev pairs differ).
//
// The tokenizer is immutable after loading; tokenize/encode keep their scratch space on the
// stack, so one tokenizer may serve several threads at once.
//
// Input is UTF-8; invalid UTF-8 (bad or truncated sequences, overlong forms, surrogates, code
// points above U+10FFFF) throws ember::Error naming the byte offset — Python could not have
// decoded such text into a str in the first place.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/tensor.h"

namespace ember::datasets {

struct BertEncoding {
  std::vector<int64_t> input_ids, token_type_ids, attention_mask;
};

class WordPieceTokenizer {
 public:
  // vocab.txt: one token per line, id = line number from 0, as HF's load_vocab reads it (UTF-8
  // text mode: lines end at \n, \r\n or \r; the line break is removed, nothing else, so spaces
  // stay part of a token and an empty line is the token ""). Errors: file missing or empty,
  // invalid UTF-8, a token on two lines (HF would silently keep the later id), any of [UNK]
  // [CLS] [SEP] [PAD] absent.
  static WordPieceTokenizer from_vocab_file(const std::string& path, bool do_lower_case = true);

  // Word pieces of text (HF tokenizer.tokenize(text)); every piece is a vocabulary entry.
  std::vector<std::string> tokenize(const std::string& text) const;
  // Their ids, no special tokens added (HF tokenizer.encode(text, add_special_tokens=False)).
  std::vector<int64_t> encode(const std::string& text) const;

  // [CLS] a [SEP] b [SEP]: token_type 0 up to and including the first [SEP], 1 after; attention
  // mask all 1. With max_length > 0 and more tokens than that, HF's truncation='longest_first'
  // (right side): one token at a time is removed from the end of a if a is longer than b, else
  // (ties too) from the end of b. Below max_length 3 both texts vanish and the result still has
  // the 3 special tokens, as in HF. max_length <= 0: no truncation (HF: max_length=0 is falsy).
  BertEncoding encode_pair(const std::string& a, const std::string& b, int64_t max_length) const;
  // [CLS] a [SEP], all token_type 0. Truncation as HF: the end of a is cut to fit max_length,
  // except that when even a wholly removed a would not fit (max_length 1 or 2) HF logs an error
  // and leaves a untouched — copied here, so the result is then longer than max_length.
  BertEncoding encode_single(const std::string& a, int64_t max_length) const;

  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t pad_id() const { return pad_id_; }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t unk_id() const { return unk_id_; }
  bool do_lower_case() const { return lower_; }
  // The id of a vocabulary entry; error if absent.
  int64_t token_id(const std::string& tok) const;
  const std::string& id_to_token(int64_t id) const;

 private:
  WordPieceTokenizer() = default;
  void encode_into(const std::string& text, std::vector<int64_t>& out) const;
  void wordpiece(const char32_t* cps, size_t n, std::vector<int64_t>& out, std::string& key,
                 std::vector<size_t>& offsets) const;

  std::vector<std::string> tokens_;                  // id → token
  std::unordered_map<std::string, int64_t> ids_;     // token → id
  bool lower_ = true;
  int64_t pad_id_ = -1, cls_id_ = -1, sep_id_ = -1, unk_id_ = -1;
  size_t max_token_chars_ = 0;                       // longest entry, in code points ("##" included)
};

// Pads every encoding to the longest with pad_id (token_type 0, attention_mask 0 there).
// Returns int64 CPU tensors (B, T). Error for an empty list or an encoding whose three vectors
// differ in length.
struct BertBatch {
  Tensor input_ids, token_type_ids, attention_mask;
};
BertBatch pad_bert_batch(const std::vector<BertEncoding>& encodings, int64_t pad_id);

namespace detail {
// The per-code-point rules of HF's BasicTokenizer, exposed so that tests/test_wordpiece.cpp can
// hold them to Python's answers for every code point.
enum WordPieceCharFlags : unsigned {
  kWpDropped = 1,      // removed by _clean_text (U+0000, U+FFFD, _is_control)
  kWpWhitespace = 2,   // _is_whitespace: becomes ' ' in _clean_text
  kWpPunctuation = 4,  // _is_punctuation: a piece of its own
  kWpChinese = 8,      // _is_chinese_char: spaced out
  kWpPySpace = 16,     // Python's str.isspace(): str.split() separates words there
};
unsigned wordpiece_char_flags(char32_t cp);
// _run_strip_accents(c.lower()) for c alone: lower-case, NFD, marks of category Mn removed.
std::u32string wordpiece_lower_strip(char32_t cp);
}  // namespace detail

}  // namespace ember::datasets
