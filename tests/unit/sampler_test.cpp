// Sampling: greedy ties, reproducible random numbers, top-k/top-p, and the
// empirical distribution of temperature sampling.
#include "model/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace tandem {
namespace {

TEST(Sampler, GreedyTiesGoToLowestId) {
  std::vector<float> logits = {0.5f, 2.0f, 1.0f, 2.0f};
  EXPECT_EQ(sample_token(logits.data(), 4, {}, 0), 1);
}

TEST(Sampler, SameSeedAndPositionSameNumber) {
  EXPECT_EQ(uniform_random(7, 100), uniform_random(7, 100));
  EXPECT_NE(uniform_random(7, 100), uniform_random(7, 101));
  EXPECT_NE(uniform_random(7, 100), uniform_random(8, 100));
}

TEST(Sampler, TopKOneAndTinyTopPAreGreedy) {
  std::vector<float> logits = {0.1f, 0.3f, 3.0f, 0.2f};
  for (int64_t pos = 0; pos < 50; ++pos) {
    EXPECT_EQ(sample_token(logits.data(), 4, {1.0f, 1, 1.0f, 3}, pos), 2);
    EXPECT_EQ(sample_token(logits.data(), 4, {1.0f, 0, 0.01f, 3}, pos), 2);
  }
}

TEST(Sampler, TopKNeverPicksOutsideTheTopK) {
  std::vector<float> logits = {1.0f, 0.9f, 0.8f, 0.7f, 0.6f};
  for (int64_t pos = 0; pos < 500; ++pos) EXPECT_LT(sample_token(logits.data(), 5, {1.0f, 2, 1.0f, 11}, pos), 2);
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  std::vector<float> logits = {1.0f, 0.0f, -1.0f, 0.5f};
  const float temperature = 0.8f;
  const int draws = 40000;
  std::map<int32_t, int> counts;
  for (int64_t pos = 0; pos < draws; ++pos) ++counts[sample_token(logits.data(), 4, {temperature, 0, 1.0f, 99}, pos)];
  double z = 0;
  for (float l : logits) z += std::exp(l / temperature);
  double chi2 = 0;
  for (int32_t i = 0; i < 4; ++i) {
    double expected = draws * std::exp(logits[size_t(i)] / temperature) / z;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  EXPECT_LT(chi2, 16.27);  // chi-square, 3 degrees of freedom, p = 0.001
}

// Log probabilities: greedy under the plain softmax, sampled under the distribution drawn
// from (temperature, top-k, top-p), each checked against a direct computation.
TEST(Sampler, TokenLogprobsAreThoseOfTheDistributionSampledFrom) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
  double total = 0;
  for (float l : logits) total += std::exp(double(l));
  const TokenLogprobs greedy = token_logprobs(logits.data(), 5, {}, 2, 3);
  EXPECT_EQ(greedy.id, 2);
  EXPECT_NEAR(greedy.logprob, 2.0 - std::log(total), 1e-12);
  ASSERT_EQ(greedy.top.size(), 3u);
  EXPECT_EQ(greedy.top[0].first, 1);  // ties: lower id first
  EXPECT_EQ(greedy.top[1].first, 3);
  EXPECT_EQ(greedy.top[2].first, 2);
  EXPECT_NEAR(greedy.top[0].second, 3.0 - std::log(total), 1e-12);

  SamplingParams hot{0.5f, 3, 1.0f, 7};  // top-k 3 at temperature 0.5: ids 1, 3, 2
  const double z = 2 * std::exp(3.0 / 0.5) + std::exp(2.0 / 0.5);
  const TokenLogprobs sampled = token_logprobs(logits.data(), 5, hot, 2, 5);
  EXPECT_NEAR(sampled.logprob, 2.0 / 0.5 - std::log(z), 1e-12);
  ASSERT_EQ(sampled.top.size(), 3u);  // only what the distribution holds
  EXPECT_NEAR(sampled.top[0].second, 3.0 / 0.5 - std::log(z), 1e-12);
  EXPECT_EQ(token_logprobs(logits.data(), 5, hot, 0, 0).logprob, kLeastLogprob);  // cut by top-k
  EXPECT_TRUE(token_logprobs(logits.data(), 5, hot, 1, 0).top.empty());
}

}  // namespace
}  // namespace tandem
