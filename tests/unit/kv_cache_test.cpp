// KV cache: truncate to any length and commit one path of a tree, exactly.
#include <gtest/gtest.h>

#include <cstring>

#include "model/transformer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

std::vector<float> next_logits(Transformer& tf, KvCache& cache, int32_t token) {
  KvCache* caches[] = {&cache};
  auto out = tf.forward({{token, 0, cache.length(), -1, true}}, caches);
  cache.commit_all();
  return {out.begin(), out.end()};
}

TEST(KvCache, CommitOnePathOfATree) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  KvCache tree_cache(model->config(), 64), chain_cache(model->config(), 64);
  KvCache* caches[] = {&tree_cache};
  // Prompt [1, 50, 60], then a tree: 70 ─┬─ 80 ── 90
  //                                      └─ 81
  tf.forward({{1, 0, 0, -1, false}, {50, 0, 1, 0, false}, {60, 0, 2, 1, false}}, caches);
  tree_cache.commit_all();
  tf.forward({{70, 0, 3, -1, false}, {81, 0, 4, 0, false}, {80, 0, 4, 0, false}, {90, 0, 5, 2, false}}, caches);
  EXPECT_EQ(tree_cache.pending(), 4);
  tree_cache.commit({0, 2, 3});  // 70, 80, 90
  EXPECT_EQ(tree_cache.length(), 6);
  EXPECT_EQ(tree_cache.pending(), 0);

  for (int32_t t : {1, 50, 60, 70, 80, 90}) next_logits(tf, chain_cache, t);
  // Continuing after the committed path equals continuing after the plain chain.
  auto a = next_logits(tf, tree_cache, 100);
  auto b = next_logits(tf, chain_cache, 100);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0);
}

TEST(KvCache, ATreeGrownOverSeveralPassesEqualsOneBatch) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  KvCache one(model->config(), 64), grown(model->config(), 64);
  for (KvCache* c : {&one, &grown}) {
    KvCache* caches[] = {c};
    tf.forward({{1, 0, 0, -1, false}, {50, 0, 1, 0, false}}, caches);
    c->commit_all();
  }
  // Tree 70 ─┬─ 80 ── 90, in one batch, then one level per pass.
  //          └─ 81
  KvCache* one_caches[] = {&one};
  auto all =
      tf.forward({{70, 0, 2, -1, true}, {80, 0, 3, 0, true}, {81, 0, 3, 0, true}, {90, 0, 4, 1, true}}, one_caches);
  std::vector<float> expected(all.begin(), all.end());
  KvCache* grown_caches[] = {&grown};
  const size_t vocab = size_t(model->config().vocab_size);
  std::vector<float> got;
  auto level1 = tf.forward({{70, 0, 2, -1, true}}, grown_caches);
  got.insert(got.end(), level1.begin(), level1.end());
  BatchToken a{80, 0, 3, -1, true, 0}, b{81, 0, 3, -1, true, 0};
  auto level2 = tf.forward({a, b}, grown_caches);
  got.insert(got.end(), level2.begin(), level2.end());
  BatchToken c{90, 0, 4, -1, true, 1};  // row 1 holds 80
  auto level3 = tf.forward({c}, grown_caches);
  got.insert(got.end(), level3.begin(), level3.end());
  ASSERT_EQ(got.size(), 4 * vocab);
  EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * 4), 0);
  EXPECT_EQ(grown.pending(), 4);

  // Committing 70, 80, 90 (rows 0, 1, 3) continues exactly like the one-batch cache.
  one.commit({0, 1, 3});
  grown.commit({0, 1, 3});
  auto x = next_logits(tf, one, 7);
  auto y = next_logits(tf, grown, 7);
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * 4), 0);

  // A parent row that does not exist, or a position that does not follow it, is refused.
  tf.forward({{70, 0, 6, -1, false}}, grown_caches);
  EXPECT_THROW(tf.forward({{80, 0, 7, -1, false, 3}}, grown_caches), std::invalid_argument);
  EXPECT_THROW(tf.forward({{80, 0, 8, -1, false, 0}}, grown_caches), std::invalid_argument);
  EXPECT_EQ(grown.pending(), 1);
}

TEST(KvCache, ABatchLeavesOtherSequencesPendingRowsAlone) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  KvCache a(model->config(), 64), b(model->config(), 64);
  KvCache* caches[] = {&a, &b};
  tf.forward({{1, 0, 0, -1, false}, {1, 1, 0, -1, false}, {5, 1, 1, 1, false}}, caches);
  tf.forward({{7, 0, 0, -1, false}}, caches);  // only sequence 0
  EXPECT_EQ(b.pending(), 2);
  b.commit_all();
  EXPECT_EQ(b.length(), 2);
}

TEST(KvCache, TruncateThenRecomputeIsExact) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  KvCache cache(model->config(), 64);
  for (int32_t t : {1, 10, 20, 30}) next_logits(tf, cache, t);
  auto first = next_logits(tf, cache, 40);
  for (int32_t t : {41, 42, 43}) next_logits(tf, cache, t);
  cache.truncate(4);
  EXPECT_EQ(cache.length(), 4);
  auto again = next_logits(tf, cache, 40);
  EXPECT_EQ(std::memcmp(first.data(), again.data(), first.size() * 4), 0);
}

TEST(KvCache, RejectsBadCommitsAndTruncates) {
  auto model = Model::load(test::stories_model());
  KvCache cache(model->config(), 8);
  cache.begin_pending(3);
  EXPECT_THROW(cache.commit({1, 0}), std::invalid_argument);
  EXPECT_THROW(cache.commit({3}), std::invalid_argument);
  EXPECT_THROW(cache.truncate(1), std::out_of_range);
  cache.commit({0, 1});
  EXPECT_EQ(cache.length(), 2);
  EXPECT_THROW(cache.begin_pending(7), std::length_error);
}

TEST(KvCache, MemoryIsBoundedAndReported) {
  auto model = Model::load(test::stories_model());
  const auto& c = model->config();
  KvCache cache(c, 100000);
  EXPECT_EQ(cache.max_positions(), c.context_length);  // capped by the model
  EXPECT_EQ(cache.bytes_allocated(), 0u);
  cache.begin_pending(10);
  cache.commit_all();
  const size_t per_position = size_t(c.kv_dim()) * 4 * 2 * size_t(c.n_layers);
  EXPECT_EQ(cache.bytes_used(), 10 * per_position);
  EXPECT_EQ(cache.bytes_allocated(), 256 * per_position);  // grows in steps of 256 positions
}

}  // namespace
}  // namespace tandem
