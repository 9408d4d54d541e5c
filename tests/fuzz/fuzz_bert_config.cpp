// Fuzzes BertConfig::from_json on arbitrary bytes parsed as JSON (a Hugging Face config.json).
#include "models/bert.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    return std::map<std::string, std::string>{{"tiny.json", models::BertConfig::named("tiny").to_json().dump(1)},
                                              {"minilm.json", models::BertConfig::named("minilm").to_json().dump(1)}};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  fuzz::refusal_ok([&] {
    models::BertConfig c = models::BertConfig::from_json(j, "fuzz");
    (void)c.to_json();
  });
  return 0;
}
