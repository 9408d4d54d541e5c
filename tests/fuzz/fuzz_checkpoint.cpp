// Fuzzes the model checkpoint readers: the Q2 LSTM LM folder (config.json, vocab.txt,
// model.safetensors), a Hugging Face BERT folder (config.json, model.safetensors) and a ResNet18
// weights file (safetensors with preprocessing __metadata__). Input: byte 0 picks the model,
// byte 1 the file the rest replaces; the other files come from a valid tiny checkpoint.
#include <filesystem>

#include "engine/io/safetensors.h"
#include "models/bert.h"
#include "models/lstm_lm.h"
#include "models/resnet18.h"
#include "tests/fuzz/fuzz_util.h"

using namespace ember;
namespace fs = std::filesystem;

namespace {

const std::string& valid_lstm() {
  static const std::string dir = [] {
    std::string d = fuzz::temp_dir() + "/valid_lstm";
    datasets::Vocab vocab;
    for (const char* w : {"<unk>", "<eos>", "the", "cat", "sat"}) vocab.add(w);
    models::LstmLMConfig c;
    c.vocab_size = vocab.size(), c.emsize = 4, c.nhid = 4, c.layers = 1, c.tied = true;
    Generator g(1);
    models::save_lstm_lm(d, models::LstmLM(c, &g), vocab, {{"epoch", 1}});
    return d;
  }();
  return dir;
}

const std::string& valid_bert() {
  static const std::string dir = [] {
    std::string d = fuzz::temp_dir() + "/valid_bert";
    models::BertConfig c;
    c.vocab_size = 12, c.hidden_size = 8, c.num_hidden_layers = 1, c.num_attention_heads = 2;
    c.intermediate_size = 16, c.max_position_embeddings = 16;
    Generator g(1);
    models::BertModel m(c, &g);
    fs::create_directories(d);
    fuzz::write_file("valid_bert/config.json", c.to_json().dump(1));
    safetensors::save(d + "/model.safetensors", m.state_dict());
    return d;
  }();
  return dir;
}

// ResNet18's real weights are 45 MB: the seed keeps its __metadata__ and a few tensors, which
// exercises the metadata parsing and the strict name/shape checks.
std::string resnet_seed() {
  models::ImagePreprocessing prep;
  prep.image_size = 32, prep.dataset = "cifar10", prep.classes = {"a", "b"};
  return safetensors::save_to_memory({{"conv1.weight", zeros({64, 3, 7, 7})}, {"fc.weight", zeros({2, 512})},
                                      {"fc.bias", zeros({2})}},
                                     prep.to_metadata());
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The bytes of one file of a valid checkpoint, read once. (Not std::filesystem::copy_file: its
// sendfile fails with EINTR when libFuzzer's -timeout alarm lands in the middle of it.)
const std::string& valid_file(const std::string& dir, const std::string& name) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(dir + "/" + name);
  if (it == cache.end()) it = cache.emplace(dir + "/" + name, read(dir + "/" + name)).first;
  return it->second;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::maybe_write_seeds([] {
    std::map<std::string, std::string> s;
    const char* lstm_files[] = {"config.json", "vocab.txt", "model.safetensors"};
    for (int f = 0; f < 3; ++f)
      s["lstm_" + std::to_string(f)] = std::string{char(0), char(f)} + read(valid_lstm() + "/" + lstm_files[f]);
    s["bert_0"] = std::string{char(1), char(0)} + read(valid_bert() + "/config.json");
    s["bert_1"] = std::string{char(1), char(1)} + read(valid_bert() + "/model.safetensors");
    s["resnet"] = std::string{char(2), char(0)} + resnet_seed();
    return s;
  });
  valid_lstm(), valid_bert();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const int model = data[0] % 3, file = data[1];
  const std::string dir = fuzz::temp_dir() + "/case";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  fuzz::refusal_ok([&] {
    if (model == 0) {
      const char* files[] = {"config.json", "vocab.txt", "model.safetensors"};
      for (const char* f : files) fuzz::write_file(std::string("case/") + f, valid_file(valid_lstm(), f));
      fuzz::write_file(std::string("case/") + files[file % 3], data + 2, size - 2);
      auto m = models::load_lstm_lm(dir);
      (void)m;
    } else if (model == 1) {
      const char* files[] = {"config.json", "model.safetensors"};
      for (const char* f : files) fuzz::write_file(std::string("case/") + f, valid_file(valid_bert(), f));
      fuzz::write_file(std::string("case/") + files[file % 2], data + 2, size - 2);
      auto m = models::load_bert(dir);
      (void)m;
    } else {
      auto m = models::load_resnet18(fuzz::write_file("case/resnet.safetensors", data + 2, size - 2));
      (void)m;
    }
  });
  return 0;
}
