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
  EXPECT_EQ(cache.bytes_allocated(), 16 * per_position);  // grows in steps of 16 positions
  cache.begin_pending(10);
  cache.commit_all();
  EXPECT_EQ(cache.bytes_allocated(), 32 * per_position);  // and by half its size at least
}

// n samples of one prompt: each reads the prompt's positions from one shared prefix and
// writes only its own, with the same logits, bit for bit, as a cache that holds it all.
TEST(KvCache, SamplesOfASharedPromptEqualCachesOfTheirOwn) {
  auto model = Model::load(test::stories_model());
  const auto& c = model->config();
  Transformer tf(*model, 2, /*segment=*/8);  // the prompt's 21 positions end inside a segment
  std::vector<int32_t> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back(int32_t(1 + i * 13 % 400));
  auto prefill = [&](KvCache& cache) {
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < prompt.size(); ++i) batch.push_back({prompt[i], 0, int64_t(i), int32_t(i) - 1, false});
    KvCache* caches[] = {&cache};
    tf.forward(batch, caches);
    cache.commit_all();
  };
  auto shared = std::make_shared<KvCache>(c, 64);
  prefill(*shared);
  shared->shrink_to_committed();
  KvCache a(c, 64, shared), b(c, 64, shared), alone(c, 64);
  prefill(alone);
  EXPECT_EQ(a.length(), 21);
  EXPECT_EQ(a.base(), 21);
  EXPECT_EQ(a.bytes_allocated(), 0u);

  // Both samples in one batch, each with a two-branch tree; then one path of each committed.
  KvCache* pair[] = {&a, &b};
  auto both = tf.forward(
      {{70, 0, 21, -1, true}, {81, 0, 22, 0, true}, {80, 0, 22, 0, true}, {90, 1, 21, -1, true}, {91, 1, 22, 3, true}},
      pair);
  std::vector<float> logits(both.begin(), both.end());
  KvCache* one[] = {&alone};
  auto own = tf.forward({{70, 0, 21, -1, true}, {81, 0, 22, 0, true}, {80, 0, 22, 0, true}}, one);
  const size_t vocab = size_t(c.vocab_size);
  EXPECT_EQ(std::memcmp(logits.data(), own.data(), 3 * vocab * 4), 0);
  a.commit({0, 2});  // 70, 80
  b.commit({0, 1});  // 90, 91
  alone.commit({0, 2});
  for (int32_t t : {5, 6, 7, 8, 9, 10, 11, 12}) {  // on past the next segment boundary
    auto x = next_logits(tf, a, t);
    auto y = next_logits(tf, alone, t);
    ASSERT_EQ(std::memcmp(x.data(), y.data(), x.size() * 4), 0) << "token " << t;
  }
  // b went its own way from the same prefix: the same as a cache that prefilled it all.
  KvCache b_alone(c, 64);
  prefill(b_alone);
  for (int32_t t : {90, 91}) next_logits(tf, b_alone, t);
  EXPECT_EQ(b.length(), b_alone.length());
  auto x = next_logits(tf, b, 3);
  auto y = next_logits(tf, b_alone, 3);
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * 4), 0);
  EXPECT_THROW(b.truncate(20), std::out_of_range);  // the shared positions are not its to drop
  EXPECT_LT(a.bytes_allocated(), alone.bytes_allocated());
}

}  // namespace
}  // namespace tandem
