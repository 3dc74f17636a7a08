// The chain drafted ahead of the verifier: kept when the verifier's next context follows
// it, dropped (a new epoch) when it does not.
#include "speculation/ahead_chain.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

AheadDraft draft(int32_t token, Proposal q = {}) { return {{token, -1, 1, 0.5f}, std::move(q), std::nullopt}; }

std::vector<int32_t> tokens_of(const TokenTree& tree) {
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < tree.size(); ++i) tokens.push_back(tree[i].token);
  return tokens;
}

TEST(AheadChain, KeepsTheDraftsPastAContextThatFollowsThem) {
  AheadChain chain;
  const std::vector<int32_t> prompt = {1, 2, 3};
  EXPECT_FALSE(chain.move_to(0, prompt));  // nothing drafted yet
  for (int32_t t : {10, 11, 12, 13, 14}) chain.push(draft(t));
  EXPECT_EQ(chain.drafting_context(), (std::vector<int32_t>{1, 2, 3, 10, 11, 12, 13, 14}));
  EXPECT_EQ(tokens_of(chain.chain(2)), (std::vector<int32_t>{10, 11}));  // sent: 10 11; 12 is the bonus guess
  const uint64_t epoch = chain.epoch();

  const std::vector<int32_t> accepted = {10, 11, 12};  // both accepted, the bonus guessed
  EXPECT_TRUE(chain.move_to(3, accepted));
  EXPECT_EQ(chain.context(), (std::vector<int32_t>{1, 2, 3, 10, 11, 12}));
  EXPECT_EQ(tokens_of(chain.chain(5)), (std::vector<int32_t>{13, 14}));
  EXPECT_EQ(chain.epoch(), epoch);
}

TEST(AheadChain, StartsOverWhenTheVerifierWentElsewhere) {
  AheadChain chain;
  chain.move_to(0, std::vector<int32_t>{1, 2});
  for (int32_t t : {10, 11, 12}) chain.push(draft(t));
  const uint64_t epoch = chain.epoch();
  EXPECT_FALSE(chain.move_to(2, std::vector<int32_t>{10, 7}));  // 11 rejected, 7 instead
  EXPECT_EQ(chain.context(), (std::vector<int32_t>{1, 2, 10, 7}));
  EXPECT_EQ(chain.size(), 0u);
  EXPECT_GT(chain.epoch(), epoch);  // a draft begun before must be dropped

  for (int32_t t : {20, 21}) chain.push(draft(t));
  EXPECT_FALSE(chain.move_to(3, std::vector<int32_t>{20}));  // the context was cut: not a continuation
  EXPECT_EQ(chain.context(), (std::vector<int32_t>{1, 2, 10, 20}));
  EXPECT_EQ(chain.size(), 0u);
  for (int32_t t : {30}) chain.push(draft(t));
  EXPECT_FALSE(chain.move_to(4, std::vector<int32_t>{30, 31}));  // more tokens than drafted
}

TEST(AheadChain, AChainTreeCarriesEachLevelsProposal) {
  AheadChain chain;
  chain.move_to(0, std::vector<int32_t>{1});
  chain.push(draft(10, {{10, 0.75f}, {11, 0.25f}}));
  chain.push(draft(20, {{20, 1.0f}}));
  chain.push(draft(30));
  const TokenTree tree = chain.chain(3);
  ASSERT_EQ(tree.size(), 3);
  EXPECT_EQ(tree[1].parent, 0);
  EXPECT_EQ(tree[2].parent, 1);
  ASSERT_NE(tree.proposal(-1), nullptr);
  EXPECT_EQ(tree.proposal(-1)->size(), 2u);
  ASSERT_NE(tree.proposal(0), nullptr);
  EXPECT_EQ(tree.proposal(1), nullptr);  // a greedy guess
}

TEST(AheadChain, ARunnerUpIsALeafBesideItsDraft) {
  AheadChain chain;
  chain.move_to(0, std::vector<int32_t>{1});
  AheadDraft unsure = draft(10, {{10, 0.5f}, {11, 0.4f}});
  unsure.alternative = TreeNode{11, -1, 1, 0.4f};
  chain.push(unsure);
  chain.push(draft(20));
  const TokenTree tree = chain.chain(2);
  ASSERT_EQ(tree.size(), 3);
  EXPECT_EQ(tree.children(-1), (std::vector<int32_t>{0, 1}));  // the draft first, the verifier's order
  EXPECT_EQ(tree[1].token, 11);
  EXPECT_EQ(tree.children(0), (std::vector<int32_t>{2}));  // the chain goes on under the draft
  EXPECT_TRUE(tree.children(1).empty());
  // The verifier took the runner-up: the chain past the draft is of no use.
  EXPECT_FALSE(chain.move_to(1, std::vector<int32_t>{11, 5}));
  EXPECT_EQ(chain.size(), 0u);
}

}  // namespace
}  // namespace tandem
