// Fuzzes vocab.txt loading and the WordPiece tokenizer on arbitrary bytes (UTF-8 or not). The
// input is "vocab\n~~~~\ntext a\n~~~~\ntext b"; the first byte's low bit picks cased/uncased,
// the next one the max length of encode_pair.
#include "datasets/wordpiece.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

namespace {
const char* kVocab =
    "[PAD]\n[unused1]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\na\nman\n##s\nrun\n##ning\n.\n,\n'\nt\nisn\ncafe\n##é\n中\n";
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    const std::string sep = "\n~~~~\n";
    return std::map<std::string, std::string>{
        {"plain", std::string("\x01\x20", 2) + kVocab + sep + "The man runs." + sep + "Isn't it running?"},
        {"unicode", std::string("\x00\x08", 2) + kVocab + sep + "Café  中文\tÅngström \xe2\x80\x8b x" + sep + "\x01\x7f ok"},
        {"empty", std::string("\x01\x03", 2) + kVocab + sep + sep}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool lower = data[0] & 1;
  const int64_t max_length = data[1];
  auto parts = fuzz::split_parts(data + 2, size - 2, 3);
  const std::string path = fuzz::write_file("vocab.txt", parts[0]);
  fuzz::refusal_ok([&] {
    auto tok = datasets::WordPieceTokenizer::from_vocab_file(path, lower);
    auto ids = tok.encode(parts[1]);
    auto pair = tok.encode_pair(parts[1], parts[2], max_length);
    auto single = tok.encode_single(parts[2], max_length);
    for (int64_t id : ids)
      if (id < 0 || id >= tok.vocab_size()) std::abort();  // an id outside the vocabulary: a bug
    (void)pair, (void)single;
  });
  return 0;
}
