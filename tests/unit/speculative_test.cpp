// Speculation core: token tree layout, greedy verification, drafters, and greedy
// output identical to plain autoregressive decoding in every mode.
#include "speculation/speculative.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "model/gguf_file.h"
#include "speculation/mode.h"
#include "speculation/tree_drafter.h"
#include "speculation/verify.h"
#include "test_helpers.h"

namespace tandem {
namespace {

TEST(TokenTree, LayoutForTheForwardPass) {
  TokenTree tree;                      // a ─┬─ b ── d
  int32_t a = tree.add(10, -1, 0.9f);  //  └─ c
  int32_t b = tree.add(11, a, 0.5f);
  int32_t c = tree.add(12, a, 0.3f);
  int32_t d = tree.add(13, b, 0.2f);
  EXPECT_EQ(tree.depth(), 3);
  EXPECT_EQ(tree.children(-1), std::vector<int32_t>{a});
  EXPECT_EQ(tree.children(a), (std::vector<int32_t>{b, c}));
  EXPECT_EQ(tree.path_to(d), (std::vector<int32_t>{a, b, d}));
  EXPECT_EQ(tree.tokens_to(c), (std::vector<int32_t>{10, 12}));
  std::vector<BatchToken> batch = {{7, 0, 20, -1, true}};  // the pending context token
  tree.append_to(batch, 0, 21, 0);
  ASSERT_EQ(batch.size(), 5u);
  EXPECT_EQ(batch[1].pos, 21);
  EXPECT_EQ(batch[1].parent, 0);
  EXPECT_EQ(batch[3].pos, 22);
  EXPECT_EQ(batch[3].parent, 1);
  EXPECT_EQ(batch[4].pos, 23);
  EXPECT_EQ(batch[4].parent, 2);
  EXPECT_THROW(tree.add(1, 9, 1.0f), std::invalid_argument);
}

TEST(TokenTree, ASubtreeIsTheTreeBelowANode) {
  TokenTree tree;                      // a ─┬─ b ── d ── e
  int32_t a = tree.add(10, -1, 0.9f);  //  ├─ c
  int32_t f = tree.add(15, -1, 0.1f);  // f
  int32_t b = tree.add(11, a, 0.5f);
  int32_t c = tree.add(12, a, 0.3f);
  int32_t d = tree.add(13, b, 0.2f);
  tree.add(14, d, 0.2f);
  tree.set_proposal(a, {{11, 0.6f}, {12, 0.4f}});
  tree.set_proposal(b, {{13, 1.0f}});
  tree.set_proposal(d, {{14, 1.0f}});

  TokenTree below_a = tree.subtree(a, 2);  // b ── d, c (e is a third level)
  ASSERT_EQ(below_a.size(), 3);
  EXPECT_EQ(below_a.depth(), 2);
  EXPECT_EQ(below_a[0].token, 11);
  EXPECT_EQ(below_a[1].token, 12);
  EXPECT_EQ(below_a[2].token, 13);
  EXPECT_EQ(below_a[2].parent, 0);
  ASSERT_NE(below_a.proposal(-1), nullptr);
  EXPECT_EQ(below_a.proposal(-1)->size(), 2u);
  ASSERT_NE(below_a.proposal(0), nullptr);
  EXPECT_EQ(below_a.proposal(2), nullptr);  // d's child was cut, and its proposal with it
  EXPECT_EQ(tree.subtree(a, 3).size(), 4);
  EXPECT_TRUE(tree.subtree(f, 3).empty());
  EXPECT_EQ(tree.subtree(c, 3).proposal(-1), nullptr);
}

// Logits that put their maximum on `token`.
std::vector<float> peaked(int32_t vocab, int32_t token) {
  std::vector<float> l(size_t(vocab), 0.0f);
  l[size_t(token)] = 5.0f;
  return l;
}

TEST(VerifyGreedy, AcceptsTheLongestMatchingBranchPlusBonus) {
  const int32_t vocab = 20;
  TokenTree tree;
  int32_t a = tree.add(3, -1, 1), b = tree.add(4, a, 1), c = tree.add(5, a, 1), d = tree.add(6, c, 1);
  (void)b;
  std::vector<float> root = peaked(vocab, 3), nodes;
  for (int32_t want : {5, 9, 6, 8}) {  // after a: 5 (so c, not b); b: unused; after c: 6 (d); after d: 8
    auto l = peaked(vocab, want);
    nodes.insert(nodes.end(), l.begin(), l.end());
  }
  // Row order is node order: a, b, c, d; b's row is never read.
  Verdict v = verify_greedy(tree, root.data(), nodes.data(), vocab);
  EXPECT_EQ(v.accepted, (std::vector<int32_t>{a, c, d}));
  EXPECT_EQ(v.bonus, 8);
}

TEST(VerifyGreedy, RejectAtTheFirstToken) {
  const int32_t vocab = 8;
  TokenTree tree;
  tree.add(1, -1, 1);
  auto root = peaked(vocab, 2), node = peaked(vocab, 0);
  Verdict v = verify_greedy(tree, root.data(), node.data(), vocab);
  EXPECT_TRUE(v.accepted.empty());
  EXPECT_EQ(v.bonus, 2);
}

TEST(PromptLookup, CopiesWhatFollowedTheLatestMatch) {
  PromptLookupDrafter drafter(3, 4);
  // ... 5 6 7 8 9 ... 5 6 7 -> propose 8 9 1 2
  TokenTree t = drafter.draft({5, 6, 7, 8, 9, 1, 2, 3, 5, 6, 7}, 8);
  EXPECT_EQ(t.tokens_to(t.size() - 1), (std::vector<int32_t>{8, 9, 1, 2}));
  // Latest occurrence wins: "4" was followed by 1 then later by 2.
  TokenTree u = drafter.draft({4, 1, 0, 4, 2, 0, 4}, 8);
  EXPECT_EQ(u.tokens_to(0), std::vector<int32_t>{2});
  EXPECT_TRUE(drafter.draft({1, 2, 3}, 8).empty());  // nothing repeats
}

TEST(PromptLookup, SeveralMatchesBecomeATreeWithinItsBudget) {
  PromptLookupDrafter drafter(3, 4);
  // "7" was followed by 1 2 7 3 and later by 3 4 7: the latest first, then the other branch.
  TokenTree t = drafter.draft({7, 1, 2, 7, 3, 4, 7}, 8);
  std::vector<int32_t> first;
  for (int32_t c : t.children(-1)) first.push_back(t[c].token);
  EXPECT_EQ(first, (std::vector<int32_t>{3, 1}));
  EXPECT_EQ(t.size(), 7);
  EXPECT_EQ(t.tokens_to(2), (std::vector<int32_t>{3, 4, 7}));
  EXPECT_EQ(t.tokens_to(6), (std::vector<int32_t>{1, 2, 7, 3}));
  // Matches that continue alike share their nodes; the budget (2 x depth) caps the tree.
  TokenTree same = drafter.draft({5, 6, 9, 5, 6, 9, 5}, 8);
  EXPECT_EQ(same.children(-1).size(), 1u);
  TokenTree capped = drafter.draft({7, 1, 2, 7, 3, 4, 7, 5, 6, 7}, 2);
  EXPECT_LE(capped.size(), 4);
  EXPECT_EQ(capped.children(-1).size(), 2u);
}

struct Outcome {
  std::vector<int32_t> ids;
  SpeculationStats stats;
};

Outcome run_chain(Transformer& target, Transformer& draft, const std::vector<int32_t>& prompt, int max_tokens,
                  int length) {
  GenerationOptions options;
  options.max_tokens = max_tokens;
  ChainDrafter drafter(draft, length, options.max_context);
  Outcome o;
  o.ids = generate_speculative(target, drafter, prompt, options, o.stats).ids;
  return o;
}

TEST(SpeculativeGreedy, StoriesDraftingForItselfAcceptsEverything) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1), draft(*model, 1);
  auto prompt = model->tokenizer().encode("Once upon a time", true);
  auto ar = test::plain_decode(target, prompt, 100);
  Outcome o = run_chain(target, draft, prompt, 100, 4);
  EXPECT_EQ(o.ids, ar);
  EXPECT_EQ(o.stats.accepted, o.stats.drafted);
  EXPECT_GT(o.stats.tokens_per_pass(), 4.0);
}

TEST(SpeculativeGreedy, StoriesWithAPerturbedDrafterMatchesAutoregressive) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  for (const char* text : {"Once upon a time", "Lily and Tom went to the park", "The little dog"}) {
    auto prompt = model->tokenizer().encode(text, true);
    auto ar = test::plain_decode(target, prompt, 100);
    for (int length : {1, 3, 6}) {
      Outcome o = run_chain(target, draft, prompt, 100, length);
      EXPECT_EQ(o.ids, ar) << text << " length " << length;
      // Partial acceptance: the rollback paths are exercised.
      EXPECT_GT(o.stats.acceptance_rate(), 0.0) << text;
      EXPECT_LT(o.stats.acceptance_rate(), 1.0) << text;
    }
  }
}

TEST(SpeculativeGreedy, AdaptiveDepthMatchesAutoregressive) {
  auto model = Model::load(test::stories_model());
  auto drafter_model = Model::load(test::perturbed_stories());
  Transformer target(*model, 1), draft(*drafter_model, 1);
  auto prompt = model->tokenizer().encode("The little dog", true);
  auto ar = test::plain_decode(target, prompt, 100);
  GenerationOptions options;
  options.max_tokens = 100;
  for (double draft_cost : {0.0, 2.0}) {  // cheap drafts: deep; dear drafts: mostly none
    ChainDrafter drafter(draft, 6, options.max_context);
    SpeculationStats stats;
    SpeculationOptions speculation{6, true, PassCost::linear(0.3), draft_cost};
    EXPECT_EQ(generate_speculative(target, drafter, prompt, options, stats, {}, speculation).ids, ar);
    if (draft_cost > 1.0) {
      EXPECT_LT(stats.drafted, stats.passes);  // most passes drafted nothing
    }
  }
}

// A drafter that never drafts: the run is plain decoding.
class DraftsNothing : public Drafter {
 public:
  TokenTree draft(const std::vector<int32_t>& /*context*/, int /*max_depth*/) override { return {}; }
};

// The first token comes out of the prefill, as plain decoding takes it: n tokens cost n - 1
// passes (the last prompt token opens no pass of its own), greedy or sampled, and the
// output is plain decoding's for the same seed.
TEST(SpeculativeRun, TakesTheFirstTokenFromThePrefill) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1);
  auto prompt = model->tokenizer().encode("Once upon a time", true);
  for (float temperature : {0.0f, 0.8f}) {
    for (int max_tokens : {1, 12}) {
      GenerationOptions options;
      options.max_tokens = max_tokens;
      options.sampling = {temperature, 0, 1.0f, 5};
      DraftsNothing drafter;
      SpeculationStats stats;
      const GenerationResult run = generate_speculative(target, drafter, prompt, options, stats);
      EXPECT_EQ(run.ids, generate_autoregressive(target, prompt, options, {}).ids) << temperature;
      ASSERT_EQ(run.finish, FinishReason::Length) << temperature;
      ASSERT_EQ(run.ids.size(), size_t(max_tokens));
      EXPECT_EQ(stats.passes, max_tokens - 1) << temperature;
      EXPECT_EQ(stats.drafted, 0);
    }
  }
}

TEST(SpeculativeGreedy, PromptLookupMatchesAutoregressive) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1);
  auto prompt = model->tokenizer().encode("Lily and Tom went to the park", true);
  auto ar = test::plain_decode(target, prompt, 120);
  GenerationOptions options;
  options.max_tokens = 120;
  PromptLookupDrafter drafter(3, 5);
  SpeculationStats stats;
  EXPECT_EQ(generate_speculative(target, drafter, prompt, options, stats).ids, ar);
  EXPECT_GT(stats.accepted, 0);  // stories repeat themselves, so lookup hits
}

TEST(TokenRecycling, DraftsFromTheTargetsRememberedCandidates) {
  RecyclingDrafter drafter(2, 3);
  const int32_t vocab = 6;
  // After token 1 the target favoured 4 then 2; after 4 it favoured 5; after 5, 0.
  std::vector<float> logits = {0, 0, 2, 0, 3, 1,   // row after 1
                               0, 0, 0, 0, 0, 9,   // row after 4
                               7, 0, 0, 0, 0, 0};  // row after 5
  drafter.observe({1, 4, 5}, logits.data(), vocab);
  TokenTree tree = drafter.draft({3, 1}, 8);
  ASSERT_EQ(tree.children(-1).size(), 2u);
  EXPECT_EQ(tree.tokens_to(tree.children(-1)[0]), std::vector<int32_t>{4});
  EXPECT_EQ(tree.tokens_to(2), (std::vector<int32_t>{4, 5, 0}));             // 4, then 5, then 0
  EXPECT_EQ(tree.tokens_to(tree.children(-1)[1]), std::vector<int32_t>{2});  // nothing known after 2
  EXPECT_TRUE(drafter.draft({3, 2}, 8).empty());                             // nothing known after 2
  EXPECT_LT(drafter.state_bytes(), 2u << 20);
}

TEST(SpeculativeGreedy, TokenRecyclingMatchesAutoregressive) {
  auto model = Model::load(test::stories_model());
  Transformer target(*model, 1);
  for (const char* text : {"Once upon a time", "The little dog"}) {
    auto prompt = model->tokenizer().encode(text, true);
    auto ar = test::plain_decode(target, prompt, 120);
    GenerationOptions options;
    options.max_tokens = 120;
    RecyclingDrafter drafter(2, 4);
    SpeculationStats stats;
    EXPECT_EQ(generate_speculative(target, drafter, prompt, options, stats).ids, ar) << text;
    EXPECT_GT(stats.accepted, 0) << text;
  }
}

TEST(SpeculativeGreedy, QwenHalfBillionDraftingForOneAndAHalfBillion) {
  auto target_model = Model::load(test::installed_model("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"));
  auto draft_model = Model::load(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_TRUE(draft_model->tokenizer().same_vocabulary(target_model->tokenizer()));
  Transformer target(*target_model, 2), draft(*draft_model, 2);
  auto reference = test::read_json(test::reference_file("tokens-qwen2.5-coder-1.5b-instruct-q4_k_m.gguf.json"));
  // Three short Spec-Bench turns from different parts of the set (long prompts make the test slow).
  std::vector<size_t> picks;
  for (size_t start : {size_t(0), size_t(200), size_t(400)})
    for (size_t i = start; i < reference["ids"].size(); ++i)
      if (reference["ids"][i].size() <= 40) {
        picks.push_back(i);
        break;
      }
  ASSERT_EQ(picks.size(), 3u);
  for (size_t i : picks) {
    auto prompt = reference["ids"][i].get<std::vector<int32_t>>();
    auto ar = test::plain_decode(target, prompt, 24);
    GenerationOptions options;
    options.max_tokens = 24;
    for (const Mode mode : all_modes()) {
      ModeSettings settings;
      settings.mode = mode;
      settings.draft_tokens = 4;
      SpeculationStats stats;
      EXPECT_EQ(generate_in_mode(settings, target, &draft, prompt, options, stats).ids, ar)
          << "prompt " << i << " mode " << mode_name(mode);
    }
  }
}

}  // namespace
}  // namespace tandem
