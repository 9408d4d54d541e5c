// wikitext_tokenizer.h — raw English text (MNLI / SNLI sentences) into WikiText-2 tokens, made the
// way WikiText itself was made, so the Q2 language model's vocabulary applies to them.
//
// How WikiText (tokenized v1) was made, as its text shows: the Moses tokenizer (tokenizer.perl,
// English, -a aggressive hyphen splitting, no XML escaping, the 2016 version whose period rule has
// no special case for a line's last word), then "@,@" / "@.@" for the separators inside numbers.
// What that gives, each checked against train.txt:
//   - every character that is not a letter, a digit, white space or one of . ' ` , - is a token
//     of its own: ( ) " : ; ! ? $ % & / “ ” – … all stand alone (quotes stay as written: ASCII ",
//     never `` or ''; 28,309 " and 0 `` in train);
//   - a hyphen between two letters/digits becomes " @-@ " (role @-@ playing, 0 @-@ 0); "--" and a
//     leading "-5" stay as they are (train has no token "-5": Wikipedia writes the minus sign −);
//   - a comma between two digits stays in the number, which then reads 1 @,@ 000; any other comma
//     is a token; a period between two digits becomes " @.@ " (3 @.@ 14). Markers go only into
//     tokens made of digits, commas and periods (train keeps 1,000th and 1.e4 whole), and also
//     replace a separator that Moses left at the end of such a token: a period before a
//     lower-case word (October 3. its → 3 @.@ its), a comma that ends the text (1932 @,@);
//   - apostrophes split to the right: don't → don 't (train has 118 "don 't", 0 " n't "), man's →
//     man 's, I'm → I 'm, O'Brien → O 'Brien, 1990's → 1990 's; a quote with a space on either
//     side is a token of its own (players' → players ');
//   - runs of two or more periods are one token ("..." 826 times, "...." 14);
//   - a word-final period is split off unless the word is a non-breaking prefix (Mr. Dr. St. No.
//     before a number, single capitals such as the A. of A. muscaria, ...), holds another period
//     and a letter (U.S., e.g., p.m.), or the next word starts with a lower-case letter;
//   - case is kept; letters of any script stay whole (Senjō, 戦場のヴァルキュリア3).
// Deviations from Moses, each on purpose: a line's first and last character are treated as if
// white space stood beside them (so 'Hello at the very start still splits to ' Hello); format
// characters (category Cf: soft hyphen, BOM) and control characters are dropped instead of
// becoming tokens, and a zero-width space separates words; a literal "<unk>" is one token and
// counts as a word that is a letter, a number and lower-case at once (WikiText put it in place of
// rare words of every kind), so "<unk>'s", "<unk>-like", "1,<unk>" and "var. <unk>" split as the
// word they replaced would have ("<formula>", WikiText's other placeholder, is one token too);
// combining marks count as letters (Perl's \p{Alpha} leaves out a few, e.g. U+0301, which Moses
// splits off).
// Unicode categories come from utf8proc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/wikitext.h"

namespace ember::datasets {

// Raw text → WikiText-2-style tokens (no <eos>), as described above. Any white space separates;
// empty or white-space-only text gives no tokens. Invalid UTF-8: ember::Error naming the byte.
std::vector<std::string> wikitext_tokenize(const std::string& text);

// Tokens → plain text, for tests and display: "@-@" "@,@" "@.@" are undone (well-known, 1,000,
// 3.14), punctuation and clitics attach to their word, ( [ { $ £ € # and opening quotes to the
// next one. Where attaching a period would change how it tokenises again (after a word that keeps
// its period, U.S. .; before a lower-case word), a space is left, so that for WikiText's own lines
// wikitext_tokenize(wikitext_detokenize(tokens)) == tokens whenever that is possible at all
// (tests/test_wikitext_tokenizer.cpp measures how often). A token that is not UTF-8: ember::Error.
std::string wikitext_detokenize(const std::vector<std::string>& tokens);

struct OovCount {
  int64_t tokens = 0, unknown = 0;
  double rate() const { return tokens ? double(unknown) / double(tokens) : 0.0; }
};

// Token ids in `vocab`; a word not in it becomes vocab.unk_id() and is counted in *count when given
// (count->tokens grows by tokens.size()). By default a word is looked up exactly as written, since
// WikiText is case-sensitive ("The" and "the" are different words to the language model). With
// case_fallback, a word that is absent as written is tried lower-cased ("The" → "the"), then with
// only its first letter upper-case ("i" → "I", "MONDAY" → "Monday"), then all upper-case, before
// it becomes <unk>; a word found that way counts as known.
std::vector<int64_t> encode_wikitext(const std::vector<std::string>& tokens, const Vocab& vocab,
                                     OovCount* count = nullptr, bool case_fallback = false);

}  // namespace ember::datasets
