// tests/test_files.cpp — engine/io/files: atomic folder replacement (a checkpoint's files change
// together), its refusal to replace a folder holding other things, and read_file's errors.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>

#include "engine/io/files.h"
#include "engine/io/safetensors.h"
#include "models/bert.h"
#include "models/lstm_lm.h"
#include "tests/test_util.h"

using namespace ember;
namespace fs = std::filesystem;

TEST_CASE("files: write_dir_atomic creates, then replaces a folder's files as a whole") {
  test::TempDir tmp("files");
  const std::string dir = tmp.file("ck");
  io::write_dir_atomic(dir, {{"a.txt", "one"}, {"b.bin", std::string("\0\1", 2)}});
  CHECK(io::read_file(dir + "/a.txt") == "one");
  CHECK(io::read_file(dir + "/b.bin") == std::string("\0\1", 2));
  // The new version has fewer files: the folder is exactly the new set, no leftovers, no staging folder.
  io::write_dir_atomic(dir, {{"a.txt", "two"}});
  CHECK(io::read_file(dir + "/a.txt") == "two");
  CHECK_FALSE(fs::exists(dir + "/b.bin"));
  CHECK_FALSE(fs::exists(dir + ".staging"));
  // A staging folder left by a crash is cleared, not mixed in.
  fs::create_directories(dir + ".staging");
  test::write_text(dir + ".staging/stale.txt", "x");
  io::write_dir_atomic(dir, {{"a.txt", "three"}});
  CHECK(io::read_file(dir + "/a.txt") == "three");
  CHECK_FALSE(fs::exists(dir + "/stale.txt"));
}

TEST_CASE("files: write_dir_atomic refuses a folder holding anything else, and bad names") {
  test::TempDir tmp("files");
  test::write_text(tmp.file("mine/notes.md"), "precious");
  test::expect_error([&] { io::write_dir_atomic(tmp.file("mine"), {{"config.json", "{}"}}); },
                     "it holds 'notes.md', which is not part of this checkpoint");
  CHECK(io::read_file(tmp.file("mine/notes.md")) == "precious");
  test::write_text(tmp.file("plain"), "x");
  test::expect_error([&] { io::write_dir_atomic(tmp.file("plain"), {{"a", "b"}}); }, "it is a file, not a folder");
  test::expect_error([&] { io::write_dir_atomic(tmp.file("d"), {{"../escape", "b"}}); }, "is not a plain file name");
  test::expect_error([&] { io::read_file(tmp.file("absent")); }, "cannot open");
}

namespace {
// A 4-word vocabulary and a 1×4 tied LSTM LM.
struct TinyLm {
  datasets::Vocab vocab;
  std::shared_ptr<models::LstmLM> model;
  TinyLm() {
    for (const char* w : {"<unk>", "<eos>", "a", "b"}) vocab.add(w);
    models::LstmLMConfig c;
    c.vocab_size = vocab.size(), c.emsize = 4, c.nhid = 4, c.layers = 1, c.tied = true;
    Generator g(3);
    model = std::make_shared<models::LstmLM>(c, &g);
  }
};
}  // namespace

TEST_CASE("files: save_lstm_lm replaces the whole checkpoint folder, and load_lstm_lm reads it back") {
  test::TempDir tmp("files");
  TinyLm lm;
  const datasets::Vocab& vocab = lm.vocab;
  const std::string dir = tmp.file("lm");
  models::save_lstm_lm(dir, *lm.model, vocab, {{"epoch", 1}});
  models::save_lstm_lm(dir, *lm.model, vocab, {{"epoch", 2}});
  models::LoadedLstmLM back = models::load_lstm_lm(dir);
  CHECK(back.config["epoch"] == 2);
  CHECK(back.vocab.words() == vocab.words());
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  CHECK(n == 4);  // model.safetensors, vocab.txt, config.json and the .ember-checkpoint marker
}

TEST_CASE("files: a checkpoint whose config claims a huge model is refused before anything is allocated") {
  test::TempDir tmp("files");
  TinyLm lm;
  const std::string dir = tmp.file("lm");
  models::save_lstm_lm(dir, *lm.model, lm.vocab);
  // Edit config.json to claim 2 x 100k hidden units: 3e11 weights, against the 4-unit file.
  nlohmann::json j = nlohmann::json::parse(io::read_file(dir + "/config.json"));
  j["model"]["nhid"] = 100000, j["model"]["emsize"] = 100000;
  test::write_text(dir + "/config.json", j.dump());
  test::expect_error([&] { models::load_lstm_lm(dir); }, "holds only");
  test::expect_error([&] { models::load_lstm_lm(dir); }, "do not belong together");
  // fuzz_checkpoint finding: a float where an integer belongs (3.3e88) reached nlohmann's float ->
  // int64 conversion, undefined behaviour; now a clear error.
  j["model"]["nhid"] = 3.33333e+88;
  test::write_text(dir + "/config.json", j.dump());
  test::expect_error([&] { models::load_lstm_lm(dir); }, "'nhid' must be a positive integer, got 3.33333e+88");
}

TEST_CASE("files: a BERT folder whose config.json claims far more weights than model.safetensors holds is refused") {
  test::TempDir tmp("files");
  models::BertConfig c;
  c.vocab_size = 12, c.hidden_size = 8, c.num_hidden_layers = 1, c.num_attention_heads = 2, c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  models::BertModel m(c);
  fs::create_directories(tmp.file("bert"));
  safetensors::save(tmp.file("bert/model.safetensors"), m.state_dict());
  test::write_text(tmp.file("bert/config.json"), c.to_json().dump());
  CHECK(models::load_bert(tmp.file("bert")).model != nullptr);
  c.vocab_size = 1000000000;  // 8e9 embedding weights claimed by a few-KB file
  test::write_text(tmp.file("bert/config.json"), c.to_json().dump());
  test::expect_error([&] { models::load_bert(tmp.file("bert")); }, "the two files do not belong together");
}
