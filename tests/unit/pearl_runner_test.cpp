// PEARL with real threads: drafter and verifier overlap, and greedy output stays
// identical to plain autoregressive decoding whatever the timing.
#include "speculation/pearl_runner.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "test_helpers.h"

namespace tandem {
namespace {

GenerationResult pearl(Transformer& target, Transformer& draft, const std::vector<int32_t>& prompt, int max_tokens,
                       PearlOptions settings, SpeculationStats& stats) {
  GenerationOptions options;
  options.max_tokens = max_tokens;
  return generate_pearl(target, draft, prompt, options, stats, {}, settings);
}

TEST(Pearl, DraftingForItselfAcceptsEverythingAndMatchesAutoregressive) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1), draft(*model, 1);
  auto prompt = model->tokenizer().encode("Once upon a time", true);
  SpeculationStats stats;
  auto result = pearl(target, draft, prompt, 120, {4, 1, false, 0.8f, {}, {}}, stats);
  EXPECT_EQ(result.ids, test::plain_decode(target, prompt, 120));
  EXPECT_EQ(stats.accepted, stats.drafted);
  EXPECT_GT(stats.tokens_per_pass(), 1.5);
  EXPECT_GE(stats.drafter_idle_seconds, 0.0);
}

TEST(Pearl, PartialAcceptanceMatchesAutoregressiveForEveryWindowAndPreVerify) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  SpeculationStats total;
  for (const char* text : {"Lily and Tom went to the park", "The little dog"}) {
    auto prompt = model->tokenizer().encode(text, true);
    auto expected = test::plain_decode(target, prompt, 100);
    for (int window : {1, 3, 6})
      for (int pre_verify : {0, 1, 2}) {
        auto result = pearl(target, draft, prompt, 100, {window, pre_verify, false, 0.8f, {}, {}}, total);
        EXPECT_EQ(result.ids, expected) << text << " window " << window << " pre-verify " << pre_verify;
        EXPECT_EQ(result.finish, FinishReason::Length);
      }
  }
  // How many drafts each pass saw depends on thread timing, but over 18 runs both
  // acceptance and rollback happened.
  EXPECT_GT(total.accepted, 0);
  EXPECT_LT(total.accepted, total.drafted);
}

TEST(Pearl, TreeDraftingMatchesAutoregressiveAndTakesAlternatives) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  SpeculationStats chain_total, tree_total;
  for (const char* text : {"Lily and Tom went to the park", "The little dog", "Once upon a time"}) {
    auto prompt = model->tokenizer().encode(text, true);
    auto expected = test::plain_decode(target, prompt, 100);
    for (bool tree : {false, true}) {
      SpeculationStats& total = tree ? tree_total : chain_total;
      auto result = pearl(target, draft, prompt, 100, {4, 1, tree, 0.9f, {}, {}}, total);
      EXPECT_EQ(result.ids, expected) << text << (tree ? " tree" : " chain");
    }
  }
  // Siblings were drafted, so the trees hold more nodes per pass than the chains.
  EXPECT_GT(double(tree_total.drafted) / double(tree_total.passes),
            double(chain_total.drafted) / double(chain_total.passes));
  std::printf("pearl tokens per pass: tree %.2f, chain %.2f\n", tree_total.tokens_per_pass(),
              chain_total.tokens_per_pass());
}

TEST(Pearl, StopsAtAStopTokenAndAtZeroTokens) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1), draft(*model, 1);
  auto prompt = model->tokenizer().encode("The little dog", true);
  GenerationOptions options;
  options.max_tokens = 400;  // this story ends after about 300 tokens
  auto expected = generate_autoregressive(target, prompt, options);
  ASSERT_EQ(expected.finish, FinishReason::Stop);
  SpeculationStats stats;
  auto result = generate_pearl(target, draft, prompt, options, stats, {}, {});
  EXPECT_EQ(result.ids, expected.ids);
  EXPECT_EQ(result.finish, FinishReason::Stop);
  options.max_tokens = 0;
  EXPECT_TRUE(generate_pearl(target, draft, prompt, options, stats, {}, {}).ids.empty());
}

// The perturbed drafter with a 48-position context: it fails as soon as the request
// grows past that, and the verifier must finish alone.
std::string short_context_drafter() {
  std::string source = test::perturbed_stories(), path = source + ".short";
  std::ifstream in(source, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  const int32_t seq_len = 48;
  std::memcpy(&data[24], &seq_len, 4);  // header: dim, hidden, layers, heads, kv heads, vocab, seq_len
  std::ofstream(path, std::ios::binary) << data;
  return path;
}

TEST(Pearl, ALostDrafterLeavesTheVerifierToFinishAlone) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(short_context_drafter());
  ASSERT_EQ(drafter_model->config().context_length, 48);
  Transformer target(*model, 1), draft(*drafter_model, 1);
  auto prompt = model->tokenizer().encode("Lily and Tom went to the park", true);
  SpeculationStats stats;
  auto result = pearl(target, draft, prompt, 120, {3, 1, false, 0.8f, {}, {}}, stats);
  EXPECT_EQ(result.ids, test::plain_decode(target, prompt, 120));
  EXPECT_GT(stats.passes, 120 - 48);  // the last stretch went one token per pass
}

TEST(Pearl, SplitsThreadsBetweenTheSides) {
  ThreadSplit split = split_threads(8, 0);
  EXPECT_EQ(split.drafter, 2);
  EXPECT_EQ(split.verifier, 6);
  split = split_threads(2, 0);
  EXPECT_EQ(split.drafter, 1);
  EXPECT_EQ(split.verifier, 1);
  split = split_threads(1, 3);
  EXPECT_EQ(split.drafter, 3);
  EXPECT_EQ(split.verifier, 1);
}

}  // namespace
}  // namespace tandem
