// Dynamic draft trees: shape, the draft model's probabilities, cache reuse across
// passes, and greedy output identical to autoregressive decoding.
#include "speculation/tree_drafter.h"

#include <gtest/gtest.h>

#include "speculation/generation.h"
#include "speculation/speculative.h"
#include "test_helpers.h"

namespace tandem {
namespace {

TEST(TopK, LargestFirstTiesByLowerId) {
  const float logits[] = {1.0f, 5.0f, 3.0f, 5.0f, -2.0f};
  EXPECT_EQ(top_k(logits, 5, 3), (std::vector<int32_t>{1, 3, 2}));
  EXPECT_EQ(top_k(logits, 5, 9), (std::vector<int32_t>{1, 3, 2, 0, 4}));
}

// Logits of `model` after `tokens`, computed as a plain chain.
std::vector<float> chain_logits(Transformer& model, const std::vector<int32_t>& tokens) {
  KvCache cache(model.model().config(), 256);
  return feed_chain(model, cache, tokens, 0, int64_t(tokens.size()), 256, true);
}

TEST(TreeDrafter, GrowsWhereTheDraftModelIsConfident) {
  auto model = Model::load(test::stories_model());
  Transformer draft(*model, 1), check(*model, 1);
  auto context = model->tokenizer().encode("Lily and Tom went to the", true);
  TreeShape shape{10, 3, 2};
  TreeDrafter drafter(draft, shape, 4, 256);
  TokenTree tree = drafter.draft(context, 8);
  ASSERT_EQ(tree.size(), 10);
  EXPECT_EQ(tree.depth(), 4);

  // The first level is the draft model's top three after the context.
  auto first = chain_logits(check, context);
  auto expected_first = top_k(first.data(), model->config().vocab_size, 3);
  EXPECT_EQ(tree.children(-1).size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(tree[tree.children(-1)[k]].token, expected_first[k]);

  // Every node carries the draft model's probability of its token after its path, and
  // no node's path probability exceeds its parent's.
  for (int32_t i = 0; i < tree.size(); ++i) {
    std::vector<int32_t> path = context;
    std::vector<int32_t> along = tree.tokens_to(i);
    path.insert(path.end(), along.begin(), along.end() - 1);
    auto logits = chain_logits(check, path);
    EXPECT_FLOAT_EQ(tree[i].draft_prob, softmax_probability(logits.data(), model->config().vocab_size, tree[i].token))
        << "node " << i;
    EXPECT_LT(tree[i].parent, i);
    if (tree[i].parent >= 0) { EXPECT_EQ(tree[i].depth, tree[tree[i].parent].depth + 1); }
  }
  EXPECT_EQ(drafter.draft(context, 1).depth(), 1);  // the caller's depth limit holds
}

TEST(TreeDrafter, ReusesTheAcceptedBranchExactly) {
  auto model = Model::load(test::stories_model());
  Transformer a_model(*model, 1), b_model(*model, 1);
  auto context = model->tokenizer().encode("The little dog", true);
  TreeShape shape{12, 3, 3};
  TreeDrafter reused(a_model, shape, 5, 256), fresh(b_model, shape, 5, 256);
  TokenTree first = reused.draft(context, 5);
  // The verifier accepted the two deepest nodes' path prefix and chose its own bonus token.
  int32_t deepest = 0;
  for (int32_t i = 0; i < first.size(); ++i)
    if (first[i].depth > first[deepest].depth) deepest = i;
  auto accepted = first.tokens_to(deepest);
  accepted.resize(2);
  std::vector<int32_t> next = context;
  next.insert(next.end(), accepted.begin(), accepted.end());
  next.push_back(7);
  TokenTree again = reused.draft(next, 5), expected = fresh.draft(next, 5);
  ASSERT_EQ(again.size(), expected.size());
  for (int32_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].token, expected[i].token);
    EXPECT_EQ(again[i].parent, expected[i].parent);
    EXPECT_EQ(again[i].draft_prob, expected[i].draft_prob);  // bit for bit
  }
}

struct SpecRun {
  std::vector<int32_t> ids;
  SpeculationStats stats;
};

SpecRun generate(Transformer& target, Drafter& drafter, const std::vector<int32_t>& prompt, int depth) {
  GenerationOptions options;
  options.max_tokens = 80;
  SpecRun run;
  run.ids =
      generate_speculative(target, drafter, prompt, options, run.stats, {}, {depth, false, PassCost::linear(0.55), 0.0})
          .ids;
  return run;
}

// A drafter serving several requests catches their draft caches up in shared forward passes
// (each cache's new tokens in chunks, the pass capped in tokens) and drafts their trees
// level by level together: the same logits and trees, bit for bit, as each alone.
TEST(TreeDrafter, ManyRequestsDraftedTogetherEqualEachAlone) {
  auto model = Model::load(test::stories_model());
  Transformer together_tf(*model, 2), alone_tf(*model, 2);
  std::vector<std::vector<int32_t>> contexts;
  for (int r = 0; r < 6; ++r) {  // 6 x 300 tokens: more than one pass of the catch-up
    contexts.emplace_back();
    for (int i = 0; i < 300; ++i) contexts.back().push_back(int32_t(1 + (i * 7 + r * 31) % 500));
  }
  std::vector<std::unique_ptr<TreeDrafter>> together, alone;
  std::vector<TreeDrafter*> drafters;
  std::vector<const std::vector<int32_t>*> context_of;
  for (const auto& context : contexts) {
    together.push_back(std::make_unique<TreeDrafter>(together_tf, TreeShape{}, 4, 512));
    alone.push_back(std::make_unique<TreeDrafter>(alone_tf, TreeShape{}, 4, 512));
    drafters.push_back(together.back().get());
    context_of.push_back(&context);
  }
  const std::vector<int> depths(contexts.size(), 4);
  // Twice: the second round reuses each cache's rows of the first.
  for (int round = 0; round < 2; ++round) {
    const std::vector<TokenTree> trees = TreeDrafter::draft_together(drafters, context_of, depths);
    for (size_t r = 0; r < contexts.size(); ++r) {
      const TokenTree want = alone[r]->draft(contexts[r], 4);
      ASSERT_EQ(trees[r].size(), want.size()) << "request " << r;
      ASSERT_GT(want.size(), 3);
      for (int32_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(trees[r][i].token, want[i].token);
        EXPECT_EQ(trees[r][i].parent, want[i].parent);
        EXPECT_EQ(trees[r][i].draft_prob, want[i].draft_prob);
      }
      contexts[r].push_back(want[0].token);  // the verifier accepted the first node
    }
  }
}

TEST(SpeculativeGreedy, DynamicTreeMatchesAutoregressiveAndAcceptsMoreThanAChain) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  SpeculationStats tree_total, chain_total;
  for (const char* text : {"Once upon a time", "Lily and Tom went to the park", "The little dog"}) {
    auto prompt = model->tokenizer().encode(text, true);
    GenerationOptions options;
    options.max_tokens = 80;
    auto ar = generate_autoregressive(target, prompt, options).ids;
    TreeDrafter tree_drafter(draft, {12, 3, 3}, 5, options.max_context);
    ChainDrafter chain_drafter(draft, 5, options.max_context);
    SpecRun tree = generate(target, tree_drafter, prompt, 5), chain = generate(target, chain_drafter, prompt, 5);
    EXPECT_EQ(tree.ids, ar) << text;
    EXPECT_EQ(chain.ids, ar) << text;
    for (auto [total, run] : {std::pair{&tree_total, &tree}, std::pair{&chain_total, &chain}}) {
      total->passes += run->stats.passes;
      total->accepted += run->stats.accepted;
      total->drafted += run->stats.drafted;
    }
  }
  // The tree's side branches catch some of the chain's misses.
  EXPECT_GT(tree_total.tokens_per_pass(), chain_total.tokens_per_pass());
  EXPECT_LT(tree_total.acceptance_rate(), 1.0);
  std::printf("tokens per pass: tree %.2f, chain %.2f\n", tree_total.tokens_per_pass(), chain_total.tokens_per_pass());
}

}  // namespace
}  // namespace tandem
