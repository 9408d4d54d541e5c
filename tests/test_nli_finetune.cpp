// tests/test_nli_finetune.cpp — the NLI fine-tuning loop Q3 and Q4 share (apps/common/nli_finetune.h):
//  - length-bucketed batches: every row exactly once, reproducible from the seed, lengths close
//    within a batch, sorted (no generator) for evaluation;
//  - the confusion matrix and its accuracies;
//  - fit() on a tiny BERT and a synthetic task (label = which of three marker tokens the pair holds):
//    the loss falls, validation accuracy ends far above chance, the best epoch's weights are restored.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "apps/common/nli_finetune.h"
#include "datasets/wordpiece.h"
#include "engine/ops.h"
#include "models/bert.h"

using namespace ember;

TEST_CASE("nli_finetune: length-bucketed batches cover every row once, reproducibly") {
  std::vector<int64_t> lengths(1000);
  for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = static_cast<int64_t>((i * 37) % 61 + 3);
  Generator g1(7), g2(7), g3(8);
  auto a = nli::length_bucketed_batches(lengths, 16, &g1);
  auto b = nli::length_bucketed_batches(lengths, 16, &g2);
  auto c = nli::length_bucketed_batches(lengths, 16, &g3);
  CHECK(a == b);
  CHECK(a != c);
  std::vector<int64_t> all;
  for (auto& batch : a) {
    CHECK(batch.size() <= 16);
    all.insert(all.end(), batch.begin(), batch.end());
    // one pool of 800 rows sorted by length: a batch spans few distinct lengths
    auto [mn, mx] = std::minmax_element(batch.begin(), batch.end(),
                                        [&](int64_t x, int64_t y) { return lengths[x] < lengths[y]; });
    CHECK(lengths[*mx] - lengths[*mn] <= 6);
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> want(1000);
  std::iota(want.begin(), want.end(), 0);
  CHECK(all == want);
  auto sorted = nli::length_bucketed_batches(lengths, 100, nullptr);
  REQUIRE(sorted.size() == 10);
  for (size_t i = 1; i < sorted.size(); ++i) CHECK(lengths[sorted[i - 1].back()] <= lengths[sorted[i].front()]);
  CHECK_THROWS_AS(nli::length_bucketed_batches(lengths, 0, nullptr), Error);
}

TEST_CASE("nli_finetune: confusion matrix accuracies") {
  nli::Confusion c;
  for (int i = 0; i < 6; ++i) c.add(0, 0);
  for (int i = 0; i < 2; ++i) c.add(0, 2);
  for (int i = 0; i < 3; ++i) c.add(1, 1);
  c.add(1, 0);
  c.add(2, 1);
  CHECK(c.total() == 13);
  CHECK(c.accuracy() == doctest::Approx(9.0 / 13.0));
  auto pc = c.per_class_accuracy();
  CHECK(pc[0] == doctest::Approx(0.75));
  CHECK(pc[1] == doctest::Approx(0.75));
  CHECK(pc[2] == doctest::Approx(0.0));
  CHECK(c.to_json()["confusion_rows_gold_cols_pred"][0][2] == 2);
  CHECK(c.table().find("contradiction") != std::string::npos);
}

TEST_CASE("nli_finetune: a tiny BERT learns a synthetic pair task through fit()") {
  // Vocabulary: 0 [PAD], 1 [CLS], 2 [SEP], 3..5 the class markers, 6..29 filler words.
  manual_seed(3);
  Generator data_gen(11);
  const int64_t n_train = 192, n_valid = 96;
  struct Pair {
    std::vector<int64_t> ids;
    int label;
  };
  auto make = [&](int64_t n) {
    std::vector<Pair> out;
    for (int64_t i = 0; i < n; ++i) {
      int label = static_cast<int>(data_gen.next_u64() % 3);
      int64_t la = 3 + static_cast<int64_t>(data_gen.next_u64() % 5), lb = 2 + static_cast<int64_t>(data_gen.next_u64() % 4);
      std::vector<int64_t> ids{1};
      for (int64_t k = 0; k < la; ++k) ids.push_back(6 + static_cast<int64_t>(data_gen.next_u64() % 24));
      ids.push_back(2);
      int64_t pos = static_cast<int64_t>(data_gen.next_u64() % lb);
      for (int64_t k = 0; k < lb; ++k) ids.push_back(k == pos ? 3 + label : 6 + static_cast<int64_t>(data_gen.next_u64() % 24));
      ids.push_back(2);
      out.push_back({ids, label});
    }
    return out;
  };
  auto train = make(n_train), valid = make(n_valid);
  auto view = [](const std::vector<Pair>& v) {
    nli::SplitView s;
    for (auto& p : v) s.labels.push_back(p.label), s.lengths.push_back(static_cast<int64_t>(p.ids.size()));
    return s;
  };
  models::BertConfig cfg;
  cfg.vocab_size = 30, cfg.hidden_size = 32, cfg.num_hidden_layers = 1, cfg.num_attention_heads = 2;
  cfg.intermediate_size = 64, cfg.max_position_embeddings = 16, cfg.hidden_dropout_prob = 0;
  cfg.attention_probs_dropout_prob = 0;
  Generator gen(5);
  auto bert = std::make_shared<models::BertModel>(cfg, &gen);
  auto head = std::make_shared<nn::Linear>(32, 3, true, &gen);
  nn::Sequential both;  // the module fit() snapshots: encoder and head together
  both.push_back(bert);
  both.push_back(head);
  auto logits_on = [&](const std::vector<Pair>& split) {
    return [&](const std::vector<int64_t>& rows, bool train_mode) {
      both.train(train_mode);
      std::vector<datasets::BertEncoding> enc;
      for (int64_t r : rows) {
        datasets::BertEncoding e;
        e.input_ids = split[r].ids;
        e.token_type_ids.assign(e.input_ids.size(), 0);
        e.attention_mask.assign(e.input_ids.size(), 1);
        enc.push_back(e);
      }
      datasets::BertBatch b = datasets::pad_bert_batch(enc, 0);
      return head->forward(models::masked_mean_pool(bert->encode(b.input_ids, b.token_type_ids, b.attention_mask),
                                                    b.attention_mask));
    };
  };
  optim::AdamW opt(both.parameters(), 3e-3, 0.9, 0.999, 1e-8, 0.0);
  nli::TrainConfig tc;
  tc.epochs = 12, tc.batch_size = 16, tc.eval_batch_size = 32, tc.progress = false, tc.epoch_lines = false;
  nli::FitResult r = nli::fit(both, logits_on(train), logits_on(valid), view(train), view(valid), opt, nullptr, tc,
                              "tiny", gen);
  REQUIRE(r.history.size() == 12);
  const double first_loss = r.history[0]["train_loss"], last_loss = r.history[11]["train_loss"];
  INFO("train loss ", first_loss, " -> ", last_loss, ", best valid ", r.best_valid_accuracy, " at epoch ",
       r.best_epoch);
  CHECK(last_loss < 0.5 * first_loss);
  CHECK(r.best_valid_accuracy > 0.8);  // chance is 1/3
  // The restored weights are the best epoch's: evaluating again gives its validation accuracy.
  nli::EvalResult again =
      nli::evaluate(logits_on(valid), view(valid).labels, view(valid).lengths, 32, "valid", false);
  CHECK(again.accuracy() == doctest::Approx(r.best_valid_accuracy));
}
