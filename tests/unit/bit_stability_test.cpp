// A token's logits are bit-identical whether computed alone, in a prefill, in
// chunks, or inside a tree batch beside other branches and other sequences.
#include <gtest/gtest.h>

#include <cstring>

#include "model/transformer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using Logits = std::vector<float>;

// Logits of each position of `ids`, feeding the prompt `chunk` tokens at a time.
std::vector<Logits> chain_logits(Transformer& tf, const std::vector<int32_t>& ids, size_t chunk) {
  const int64_t vocab = tf.model().config().vocab_size;
  KvCache cache(tf.model().config(), 512);
  KvCache* caches[] = {&cache};
  std::vector<Logits> out;
  for (size_t begin = 0; begin < ids.size(); begin += chunk) {
    std::vector<BatchToken> batch;
    for (size_t i = begin; i < std::min(ids.size(), begin + chunk); ++i)
      batch.push_back({ids[i], 0, int64_t(i), i == begin ? -1 : int32_t(i - begin - 1), true});
    auto logits = tf.forward(batch, caches);
    cache.commit_all();
    for (size_t j = 0; j < batch.size(); ++j)
      out.emplace_back(logits.begin() + int64_t(j) * vocab, logits.begin() + int64_t(j + 1) * vocab);
  }
  return out;
}

void expect_bit_identical(const Logits& a, const Logits& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << what;
}

struct Case {
  std::string model;  // empty: stories260K
  int segment;
  MatmulPath path = MatmulPath::Int16;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << (c.model.empty() ? "stories260K" : c.model) << "/segment" << c.segment << "/" << matmul_path_name(c.path);
}

class BitStability : public ::testing::TestWithParam<Case> {
 protected:
  std::string path() const {
    return GetParam().model.empty() ? test::stories_model() : test::installed_model(GetParam().model);
  }
};

TEST_P(BitStability, PrefillChunksAndSingleTokensAgree) {
  auto model = Model::load(path());
  Transformer tf(*model, 2, GetParam().segment, GetParam().path);
  std::vector<int32_t> ids;
  for (int i = 0; i < 23; ++i) ids.push_back((i * 37 + 11) % model->config().vocab_size);
  auto whole = chain_logits(tf, ids, ids.size());
  auto single = chain_logits(tf, ids, 1);
  auto chunks = chain_logits(tf, ids, 5);
  for (size_t i = 0; i < ids.size(); ++i) {
    expect_bit_identical(whole[i], single[i], "position " + std::to_string(i) + " prefill vs single");
    expect_bit_identical(whole[i], chunks[i], "position " + std::to_string(i) + " prefill vs chunks");
  }
}

TEST_P(BitStability, TreeBatchWithTwoSequencesMatchesChains) {
  auto model = Model::load(path());
  const int32_t vocab = model->config().vocab_size;
  Transformer tf(*model, 2, GetParam().segment, GetParam().path);
  auto tok = [&](int i) { return int32_t((i * 53 + 7) % vocab); };
  std::vector<int32_t> prefix_a, prefix_b;
  for (int i = 0; i < 9; ++i) prefix_a.push_back(tok(i));
  for (int i = 0; i < 6; ++i) prefix_b.push_back(tok(100 + i));

  KvCache cache_a(model->config(), 512), cache_b(model->config(), 512);
  KvCache* caches[] = {&cache_a, &cache_b};
  for (auto [cache, prefix, seq] : {std::tuple{&cache_a, &prefix_a, 0}, std::tuple{&cache_b, &prefix_b, 1}}) {
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < prefix->size(); ++i) batch.push_back({(*prefix)[i], seq, int64_t(i), int32_t(i) - 1, false});
    tf.forward(batch, caches);
    cache->commit_all();
  }
  // Sequence A gets a tree:      root(0) ─┬─ 1 ── 3
  //                                       └─ 2 ─┬─ 4
  //                                             └─ 5
  // interleaved with a chain of three tokens for sequence B (indices 6, 7, 8).
  const int64_t a0 = int64_t(prefix_a.size()), b0 = int64_t(prefix_b.size());
  std::vector<BatchToken> batch = {
      {tok(20), 0, a0, -1, true},    {tok(21), 0, a0 + 1, 0, true}, {tok(22), 0, a0 + 1, 0, true},
      {tok(23), 0, a0 + 2, 1, true}, {tok(24), 0, a0 + 2, 2, true}, {tok(25), 0, a0 + 2, 2, true},
      {tok(30), 1, b0, -1, true},    {tok(31), 1, b0 + 1, 6, true}, {tok(32), 1, b0 + 2, 7, true},
  };
  auto tree = tf.forward(batch, caches);
  std::vector<Logits> tree_logits;
  for (size_t j = 0; j < batch.size(); ++j)
    tree_logits.emplace_back(tree.begin() + int64_t(j) * vocab, tree.begin() + int64_t(j + 1) * vocab);

  // Each node equals the same tokens run as a plain chain.
  auto path_of = [&](size_t j) {
    std::vector<int32_t> path;
    for (int64_t k = int64_t(j); k >= 0; k = batch[size_t(k)].parent) path.insert(path.begin(), batch[size_t(k)].token);
    return path;
  };
  for (size_t j = 0; j < batch.size(); ++j) {
    std::vector<int32_t> chain = batch[j].seq == 0 ? prefix_a : prefix_b;
    auto path = path_of(j);
    chain.insert(chain.end(), path.begin(), path.end());
    auto expected = chain_logits(tf, chain, 4).back();
    expect_bit_identical(tree_logits[j], expected, "tree node " + std::to_string(j));
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BitStability,
                         ::testing::Values(Case{"", 4}, Case{"", kAttentionSegment},
                                           Case{"qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 8},
                                           Case{"smollm2-135m-instruct-q4_1.gguf", kAttentionSegment},
                                           Case{"gemma-3-270m-q4_k_m.gguf", 8},
                                           Case{"qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 8, MatmulPath::Int16Fast},
                                           Case{"smollm2-135m-instruct-q4_1.gguf", 8, MatmulPath::Float},
                                           Case{"qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 8, MatmulPath::Int8},
                                           Case{"smollm2-135m-instruct-q4_1.gguf", 8, MatmulPath::Int8},
                                           Case{"gemma-3-270m-q4_k_m.gguf", kAttentionSegment, MatmulPath::Int8}),
                         [](const auto& info) { return std::to_string(info.index); });

TEST(BitStabilityErrors, MalformedBatchesAreRejected) {
  auto model = Model::load(test::stories_model());
  Transformer tf(*model, 1);
  KvCache cache(model->config(), 16);
  KvCache* caches[] = {&cache};
  using Batch = std::vector<BatchToken>;
  EXPECT_THROW(tf.forward(Batch{{9999, 0, 0, -1, true}}, caches), std::invalid_argument);  // unknown token
  EXPECT_THROW(tf.forward(Batch{{5, 1, 0, -1, true}}, caches), std::invalid_argument);     // no such sequence
  EXPECT_THROW(tf.forward(Batch{{5, 0, 3, -1, true}}, caches), std::invalid_argument);     // gap after the cache
  EXPECT_THROW(tf.forward(Batch{{5, 0, 0, -1, true}, {6, 0, 2, 0, true}}, caches),
               std::invalid_argument);  // skips a position
  EXPECT_THROW(tf.forward(Batch{{5, 0, 0, 1, true}, {6, 0, 1, -1, true}}, caches),
               std::invalid_argument);  // parent after child
  EXPECT_EQ(cache.length(), 0);
  Batch too_long;
  for (int i = 0; i < 17; ++i) too_long.push_back({5, 0, i, i - 1, false});
  EXPECT_THROW(tf.forward(too_long, caches), std::length_error);
}

}  // namespace
}  // namespace tandem
