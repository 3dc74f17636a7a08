// A token's logits are bit-identical whether computed alone, in a prefill, in
// chunks, or inside a tree batch beside other branches and other sequences.
#include <gtest/gtest.h>

#include "model/transformer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using test::chain_logits;
using test::expect_bit_identical;

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
  Transformer tf(*model, 2, GetParam().segment, GetParam().path);
  test::expect_tree_beside_chain_matches_chains(tf, 9);
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
