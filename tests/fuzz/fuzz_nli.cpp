// Fuzzes the NLI reader in its three layouts (jsonl, the official MNLI/SNLI jsonl, GLUE tsv),
// plain or gzip: the first input byte picks the file name the layout is found from.
#include "datasets/nli.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    return std::map<std::string, std::string>{
        {"jsonl", std::string(1, '\0') + "{\"premise\": \"A man runs.\", \"hypothesis\": \"Someone moves.\", \"label\": \"entailment\"}\n"
                                          "{\"premise\": \"x\", \"hypothesis\": \"y\", \"label\": 2}\n"},
        {"official", std::string(1, '\0') + "{\"gold_label\": \"neutral\", \"sentence1\": \"A dog.\", \"sentence2\": \"A cat.\", "
                                             "\"genre\": \"fiction\", \"annotator_labels\": [\"neutral\"]}\n"
                                             "{\"gold_label\": \"-\", \"sentence1\": \"a\", \"sentence2\": \"b\"}\n"},
        {"tsv", std::string(1, '\1') + "index\tgenre\tsentence1\tsentence2\tgold_label\n0\tfiction\tA man.\tA woman.\tcontradiction\n"},
        {"unknown", std::string(1, '\2') + "premise\thypothesis\tlabel\nA\tB\tneutral\n"}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* names[] = {"pairs.jsonl", "pairs.tsv", "pairs.data", "pairs.jsonl.gz"};
  const std::string path = fuzz::write_file(names[data[0] & 3], data + 1, size - 1);
  fuzz::refusal_ok([&] {
    datasets::NliFile f = datasets::read_nli(path);
    (void)f;
  });
  return 0;
}
