// The PEARL state machine on scripted drafter and verifier events.
#include "speculation/pearl_pipeline.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

using Tokens = std::vector<int32_t>;

// Feeds drafts in the current epoch.
void draft(PearlPipeline& p, const Tokens& tokens) {
  for (int32_t t : tokens) ASSERT_TRUE(p.on_draft(p.epoch(), t));
}

TEST(PearlPipeline, RejectAtTheFirstTokenRollsTheDrafterBack) {
  PearlPipeline p({1, 2, 3}, 4, 8, PassCost::linear(0.55));  // dear passes: a rejection shrinks the window
  draft(p, {10, 11, 12, 13});
  auto request = p.next_verify();
  ASSERT_TRUE(request);
  EXPECT_EQ(request->start, 2);
  EXPECT_EQ(request->pending, 3);
  EXPECT_EQ(request->drafts, (Tokens{10, 11, 12, 13}));
  uint64_t before = p.epoch();
  p.on_verdict({0, 20});
  EXPECT_EQ(p.output(), Tokens{20});
  EXPECT_EQ(p.epoch(), before + 1);
  EXPECT_EQ(p.drafter_context(), (Tokens{1, 2, 3, 20}));
  EXPECT_EQ(p.window(), 1);
}

TEST(PearlPipeline, AcceptEverythingKeepsTheDraftsMadeMeanwhile) {
  PearlPipeline p({1}, 3, 8);
  draft(p, {10, 11, 12});
  auto request = p.next_verify();
  ASSERT_EQ(request->drafts.size(), 3u);
  draft(p, {13, 14});  // post-verify: the drafter keeps going, betting on full acceptance
  uint64_t before = p.epoch();
  p.on_verdict({3, 13});  // the target's bonus is the drafter's next token: the bet holds
  EXPECT_EQ(p.output(), (Tokens{10, 11, 12, 13}));
  EXPECT_EQ(p.epoch(), before);
  EXPECT_EQ(p.drafter_context(), (Tokens{1, 10, 11, 12, 13, 14}));
  auto next = p.next_verify();
  EXPECT_EQ(next->pending, 13);
  EXPECT_EQ(next->drafts, Tokens{14});
}

TEST(PearlPipeline, AcceptEverythingButABonusOffTheBetRollsBack) {
  PearlPipeline p({1}, 2, 8);
  draft(p, {10, 11});
  p.next_verify();
  draft(p, {12, 13});
  uint64_t before = p.epoch();
  p.on_verdict({2, 99});  // all accepted, but the target continues with 99, not 12
  EXPECT_EQ(p.output(), (Tokens{10, 11, 99}));
  EXPECT_EQ(p.epoch(), before + 1);
  EXPECT_EQ(p.drafter_context(), (Tokens{1, 10, 11, 99}));
}

TEST(PearlPipeline, RejectAtTheLastToken) {
  PearlPipeline p({1}, 4, 8);
  draft(p, {10, 11, 12, 13});
  p.next_verify();
  p.on_verdict({3, 50});
  EXPECT_EQ(p.output(), (Tokens{10, 11, 12, 50}));
  EXPECT_EQ(p.drafter_context(), (Tokens{1, 10, 11, 12, 50}));
}

TEST(PearlPipeline, TheWindowFollowsAcceptance) {
  PearlPipeline p({1}, 1, 6);
  // A drafter that is always right: the window grows to what a cheap extra token justifies.
  for (int pass = 0; pass < 30; ++pass) {
    for (int i = 0; i < p.window(); ++i) ASSERT_TRUE(p.on_draft(p.epoch(), 10 + i));
    auto request = p.next_verify();
    p.on_verdict({int(request->drafts.size()), 999});  // all accepted; the bonus is off the drafter's path
  }
  EXPECT_EQ(p.window(), 6);
  // A drafter that is always wrong: back to a single draft.
  for (int pass = 0; pass < 30; ++pass) {
    ASSERT_TRUE(p.on_draft(p.epoch(), 5));
    p.next_verify();
    p.on_verdict({0, 7});
  }
  EXPECT_EQ(p.window(), 1);
}

TEST(PearlPipeline, VerdictAfterTheDrafterRanFarAhead) {
  PearlPipeline p({1}, 2, 8);
  draft(p, {10, 11});
  p.next_verify();  // sends 10, 11
  draft(p, {12, 13, 14, 15, 16, 17});
  EXPECT_EQ(p.queued_drafts(), 6);
  p.on_verdict({2, 12});
  EXPECT_EQ(p.output(), (Tokens{10, 11, 12}));
  auto next = p.next_verify();  // the window sends the next drafts after pending 12
  EXPECT_EQ(next->pending, 12);
  ASSERT_GE(next->drafts.size(), 1u);
  EXPECT_EQ(next->drafts[0], 13);
  // This time the target keeps 13 but continues with 70, not 14: everything drafted
  // after 13 is dropped, and drafts still arriving from the old epoch are ignored.
  uint64_t old_epoch = p.epoch();
  p.on_verdict({1, 70});
  EXPECT_FALSE(p.on_draft(old_epoch, 18));
  EXPECT_EQ(p.output(), (Tokens{10, 11, 12, 13, 70}));
  EXPECT_EQ(p.drafter_context(), (Tokens{1, 10, 11, 12, 13, 70}));
  EXPECT_EQ(p.queued_drafts(), 0);
}

TEST(PearlPipeline, PreVerifyNeverLetsTheVerifierWait) {
  PearlPipeline p({1, 2}, 4, 8);
  auto first = p.next_verify();  // no drafts yet: verify the pending token alone
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->drafts.empty());
  EXPECT_FALSE(p.next_verify());  // one request at a time
  draft(p, {30});                 // arrives while the verifier is busy
  p.on_verdict({0, 30});          // the target chose 30 itself: the drafter's guess stays valid
  EXPECT_EQ(p.output(), Tokens{30});
  EXPECT_THROW(p.on_verdict({0, 1}), std::logic_error);  // no request in flight
}

TEST(PearlPipeline, TakingAnAlternativeRollsBackPastIt) {
  PearlPipeline p({1}, 3, 8);
  ASSERT_TRUE(p.on_draft(p.epoch(), 10, -1));
  ASSERT_TRUE(p.on_draft(p.epoch(), 11, 21));  // unsure: 21 is the runner-up
  ASSERT_TRUE(p.on_draft(p.epoch(), 12, -1));
  auto request = p.next_verify();
  EXPECT_EQ(request->alternatives, (Tokens{-1, 21, -1}));
  // The tree: 10 ── 11 ── 12, with 21 beside 11.
  PearlTree tree(*request);
  ASSERT_EQ(tree.tree().size(), 4);
  EXPECT_EQ(tree.tree()[2].token, 21);
  EXPECT_EQ(tree.tree()[2].parent, 0);
  VerifyResult result = tree.result({0, 2}, 40);  // the target took 10, then 21, then says 40
  EXPECT_EQ(result.accepted, 1);
  EXPECT_EQ(result.alternative, 21);
  uint64_t before = p.epoch();
  p.on_verdict(result);
  EXPECT_EQ(p.output(), (Tokens{10, 21, 40}));
  EXPECT_EQ(p.epoch(), before + 1);
  EXPECT_EQ(p.drafter_context(), (Tokens{1, 10, 21, 40}));
  EXPECT_EQ(p.queued_drafts(), 0);
  // An alternative past the drafts sent is impossible.
  ASSERT_TRUE(p.on_draft(p.epoch(), 50, 51));
  p.next_verify();
  EXPECT_THROW(p.on_verdict({1, 7, 51}), std::invalid_argument);
}

TEST(PearlPipeline, RejectsImpossibleVerdicts) {
  PearlPipeline p({1}, 2, 4);
  draft(p, {5, 6});
  p.next_verify();
  EXPECT_THROW(p.on_verdict({3, 7}), std::invalid_argument);
  EXPECT_THROW(PearlPipeline({}, 2, 4), std::invalid_argument);
}

}  // namespace
}  // namespace tandem
