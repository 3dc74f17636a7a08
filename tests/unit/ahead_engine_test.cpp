// The one drafting-ahead engine: what it drafts ahead, round by round, is what a chain
// drafter drafts at once (greedy and sampled, alone and together); a round begun before
// a chain started over is dropped; unsure drafts get their runner-ups; a full context
// ends a lane.
#include "speculation/ahead_engine.h"

#include <gtest/gtest.h>

#include "speculation/drafter.h"
#include "speculation/tree_drafter.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using Lanes = std::vector<std::shared_ptr<AheadLane>>;

std::vector<int32_t> tokens_of(const TokenTree& tree) {
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < tree.size(); ++i) tokens.push_back(tree[i].token);
  return tokens;
}

std::shared_ptr<AheadLane> lane_at(const std::vector<int32_t>& context, size_t wanted, SamplingParams sampling = {}) {
  auto lane = std::make_shared<AheadLane>();
  lane->chain.move_to(0, context);
  lane->wanted = wanted;
  lane->sampling = sampling;
  return lane;
}

struct Stories {
  std::unique_ptr<Model> model = Model::load(test::stories_model());
  Transformer draft{*model, 1};
  std::vector<int32_t> prompt(const char* text) { return model->tokenizer().encode(text, true); }
};

TEST(AheadEngine, DraftsAheadWhatAChainDrafterDraftsAtOnce) {
  Stories s;
  AheadEngine engine(s.draft, 128);
  const std::vector<std::vector<int32_t>> prompts = {s.prompt("Once upon a time"), s.prompt("The little dog")};
  for (const SamplingParams& sampling : {SamplingParams{}, SamplingParams{0.8f, 40, 0.95f, 7}}) {
    Lanes lanes;
    for (const auto& prompt : prompts) lanes.push_back(lane_at(prompt, 6, sampling));
    int rounds = 0;
    while (engine.step(lanes)) ++rounds;
    EXPECT_EQ(rounds, 6);  // both lanes in each round
    for (size_t i = 0; i < prompts.size(); ++i) {
      ChainDrafter chain(s.draft, 6, 128);
      chain.sample_with(sampling);
      const TokenTree expected = chain.draft(prompts[i], 6);
      const TokenTree drafted = lanes[i]->chain.chain(6);
      ASSERT_EQ(tokens_of(drafted), tokens_of(expected)) << "temperature " << sampling.temperature;
      for (int32_t node = -1; node < drafted.size() - 1; ++node) {
        const Proposal* q = drafted.proposal(node);
        ASSERT_EQ(q == nullptr, sampling.temperature == 0.0f);
        if (q) { EXPECT_EQ(*q, *expected.proposal(node)); }
      }
    }
  }
}

TEST(AheadEngine, ARoundBegunBeforeTheChainStartedOverIsDropped) {
  Stories s;
  AheadEngine engine(s.draft, 128);
  const std::vector<int32_t> prompt = s.prompt("Once upon a time");
  Lanes lanes = {lane_at(prompt, 4)};
  ASSERT_TRUE(engine.step(lanes));
  const int32_t first = lanes[0]->chain.chain(1)[0].token;

  AheadEngine::Round round = AheadEngine::plan(lanes);
  ASSERT_FALSE(round.empty());
  engine.draft(round);
  // Meanwhile the verifier rejected the first draft: what the round drafted continues it.
  const std::vector<int32_t> other = {first == 5 ? 6 : 5};
  EXPECT_FALSE(lanes[0]->chain.move_to(prompt.size(), other));
  AheadEngine::apply(round);
  EXPECT_EQ(lanes[0]->chain.size(), 0u);
  EXPECT_FALSE(lanes[0]->done);
  EXPECT_TRUE(engine.step(lanes));  // drafting goes on from the new context
  EXPECT_EQ(lanes[0]->chain.size(), 1u);
}

TEST(AheadEngine, AnUnsureDraftGetsItsRunnerUp) {
  Stories s;
  AheadEngine engine(s.draft, 128);
  const std::vector<int32_t> prompt = s.prompt("Lily and Tom went to the park");
  for (const SamplingParams& sampling : {SamplingParams{}, SamplingParams{1.0f, 0, 1.0f, 3}}) {
    auto sure = lane_at(prompt, 3, sampling), unsure = lane_at(prompt, 3, sampling);
    unsure->branch_below = 1.01f;  // every draft counts as unsure
    const Lanes lanes = {sure, unsure};
    engine.fill(lanes);
    const TokenTree chain = sure->chain.chain(3), tree = unsure->chain.chain(3);
    EXPECT_EQ(chain.size(), 3);
    EXPECT_EQ(tree.size(), 6);  // a runner-up beside each draft
    EXPECT_EQ(tree.depth(), 3);
    for (int32_t node = -1, level = 0; level < 3; node = tree.children(node).front(), ++level) {
      const std::vector<int32_t> siblings = tree.children(node);
      ASSERT_EQ(siblings.size(), 2u);
      EXPECT_NE(tree[siblings[0]].token, tree[siblings[1]].token);
    }
    if (sampling.temperature == 0.0f) {  // greedy: the same draft, and the runner-up is the second best
      EXPECT_EQ(tree[0].token, chain[0].token);
      DraftModelCache cache(s.draft, 128);
      const std::vector<float>& logits = cache.sync(prompt);
      EXPECT_EQ(tree[1].token, top_k(logits.data(), s.model->config().vocab_size, 2).back());
    }
  }
}

TEST(AheadEngine, AFullContextEndsTheLane) {
  Stories s;
  AheadEngine engine(s.draft, 12);
  const std::vector<int32_t> prompt = s.prompt("Once upon a time");
  ASSERT_LT(prompt.size(), 10u);
  Lanes lanes = {lane_at(prompt, 100)};
  engine.fill(lanes);
  EXPECT_TRUE(lanes[0]->done);
  EXPECT_EQ(prompt.size() + lanes[0]->chain.size(), 12u);  // drafted until the draft cache was full
  EXPECT_FALSE(engine.step(lanes));
}

}  // namespace
}  // namespace tandem
