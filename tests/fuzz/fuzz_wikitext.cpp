// Fuzzes WikiText reading (tokenize_file: words, <eos>, the vocabulary growing) and the
// WikiText-style tokenizer of raw text (Q3) with its detokenizer, on arbitrary bytes.
#include "datasets/wikitext.h"
#include "datasets/wikitext_tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    return std::map<std::string, std::string>{
        {"wiki", " = Valkyria Chronicles III = \n\n Senjō no Valkyria 3 : <unk> Chronicles ( Japanese : 戦場のヴァルキュリア3 ) "
                 "is a tactical role @-@ playing video game , released in 2011 @,@ 000 copies @.@ \n"},
        {"raw", "The cat isn't happy; it's 3.5-year-old \"Tom\" (née Smith), isn't it?\n"}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("wiki.txt", data, size);
  fuzz::refusal_ok([&] {
    datasets::Vocab vocab;
    auto ids = datasets::tokenize_file(path, vocab, true);
    (void)ids;
  });
  fuzz::refusal_ok([&] {
    std::string text(reinterpret_cast<const char*>(data), size);
    auto tokens = datasets::wikitext_tokenize(text);
    auto back = datasets::wikitext_detokenize(tokens);
    (void)back;
  });
  return 0;
}
