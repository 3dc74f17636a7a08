// Adaptive draft length on scripted acceptance sequences.
#include "speculation/draft_length.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(DraftLength, GrowsToTheLimitWhenEverythingIsAccepted) {
  DraftLength d(6, 0.2, 0.0);
  for (int pass = 0; pass < 30; ++pass) {
    int depth = d.next();
    d.update(depth, depth);  // accept everything
  }
  EXPECT_EQ(d.next(), 6);
  EXPECT_GT(d.acceptance(), 0.9);
}

TEST(DraftLength, StopsDraftingWhenNothingIsAcceptedButStillExplores) {
  DraftLength d(6, 0.5, 0.4, 8);
  std::vector<int> depths;
  for (int pass = 0; pass < 40; ++pass) {
    int depth = d.next();
    depths.push_back(depth);
    d.update(depth, 0);  // reject at the first token
  }
  // After the first few passes it drafts nothing, except one token every eighth pass.
  int zeros = 0, ones = 0;
  for (size_t i = 20; i < depths.size(); ++i) {
    zeros += depths[i] == 0;
    ones += depths[i] == 1;
  }
  EXPECT_EQ(zeros + ones, 20);
  EXPECT_GE(ones, 2);
  EXPECT_LE(ones, 3);
}

TEST(DraftLength, CheaperVerificationAllowsDeeperDrafts) {
  DraftLength cheap(8, 0.1, 0.0), dear(8, 0.6, 0.0);
  for (auto* d : {&cheap, &dear})
    for (int pass = 0; pass < 30; ++pass) d->update(4, 3);  // about 3 of 4 accepted
  EXPECT_GT(cheap.next(), dear.next());
}

TEST(DraftLength, ExpectedTokensPerWork) {
  DraftLength d(4, 0.5, 0.0);  // fresh: acceptance 1/2
  EXPECT_DOUBLE_EQ(d.value(0), 1.0);
  EXPECT_DOUBLE_EQ(d.value(2), (1.0 + 0.5 + 0.25) / 2.0);
  EXPECT_THROW(DraftLength(-1, 0.5, 0.0), std::invalid_argument);
}

// A measured price of drafting (cost_scale) scales only what drafting adds to a plain
// pass: the plain pass itself is the unit both are measured in.
TEST(DraftLength, AMeasuredPriceScalesOnlyWhatDraftingAdds) {
  DraftLength d(4, PassCost::measured(), 0.3);
  for (int i = 0; i < 20; ++i) d.update(4, 2);  // about half accepted
  DraftContext as_modelled, dearer, cheaper;
  dearer.cost_scale = 2.0;
  cheaper.cost_scale = 0.5;
  for (const DraftContext& c : {as_modelled, dearer, cheaper}) EXPECT_DOUBLE_EQ(d.value(0, c), 1.0);
  // 1 / value = (1 + scale * extra) / tokens: the extra doubles from 0.5 to 1 and from 1 to 2.
  for (int depth = 1; depth <= 4; ++depth) {
    const double base = 1.0 / d.value(depth, as_modelled), twice = 1.0 / d.value(depth, dearer);
    const double half = 1.0 / d.value(depth, cheaper);
    EXPECT_NEAR(twice - base, 2 * (base - half), 1e-12) << depth;
    EXPECT_GT(base, half) << depth;
  }
  EXPECT_GT(d.best_depth(as_modelled), d.best_depth(dearer));
  EXPECT_GE(d.best_depth(cheaper), d.best_depth(as_modelled));
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST(PassCost, InterpolatesMeasuredPointsAndExtrapolatesTheLastSlope) {
  PassCost c({{1, 1.0}, {2, 1.2}, {4, 1.4}, {8, 2.0}});
  EXPECT_DOUBLE_EQ(c.steps(1), 1.0);
  EXPECT_DOUBLE_EQ(c.steps(3), 1.3);
  EXPECT_DOUBLE_EQ(c.steps(16), 3.2);  // past the last point: slope 0.15 per token
  EXPECT_DOUBLE_EQ(PassCost::linear(0.5).steps(5), 3.0);
  EXPECT_THROW(PassCost({{2, 1.0}, {3, 1.5}}), std::invalid_argument);  // must start at one token
  EXPECT_THROW(PassCost({{1, 1.0}, {2, 0.5}}), std::invalid_argument);  // cost never falls
}

TEST(DraftLength, ACostCurveThatStaysFlatDraftsDeeperThanALinearOne) {
  // The same acceptance (about 3 in 4), a curve where 8 tokens cost 1.4 steps vs 0.55 per token.
  DraftLength curve(12, PassCost({{1, 1.0}, {8, 1.4}, {16, 3.0}}), 0.0), linear(12, 0.55, 0.0);
  for (auto* d : {&curve, &linear})
    for (int pass = 0; pass < 30; ++pass) d->update(4, 3);
  EXPECT_GE(curve.next(), 6);
  EXPECT_LE(linear.next(), 2);
}

// Other requests' rows in the pass: on the flat part of the curve drafts stay cheap, on
// its steep part (a compute-bound batch) they cost a token's share each and stop paying.
TEST(DraftLength, ACrowdedPassDraftsLessThanALoneOne) {
  DraftLength d(8, PassCost::measured(), 0.0);
  for (int i = 0; i < 20; ++i) d.update(4, 3);  // about three in four accepted
  EXPECT_GE(d.best_depth({0}), 3);
  EXPECT_LE(d.best_depth({3}), d.best_depth({0}));
  EXPECT_EQ(d.best_depth({63}), 0);
}

// A drafter whose trees hold several branches puts that many rows in the pass per level:
// priced by them, it is worth less, and in a fuller pass it drafts less deep.
TEST(DraftLength, ATreeIsPricedByTheRowsItPutsInThePass) {
  DraftLength d(8, PassCost::measured(), 0.0);
  for (int i = 0; i < 20; ++i) d.update(4, 3);
  const DraftContext chain{3, 0, 1e9, 1, 0, 1}, tree{3, 0, 1e9, 1, 0, 3};
  EXPECT_DOUBLE_EQ(d.value(4, chain), d.value(4, {3}));  // one row a level: the curve's own
  EXPECT_LT(d.value(4, tree), d.value(4, chain));
  EXPECT_EQ(d.value(0, tree), d.value(0, chain));  // a plain pass adds no rows
  EXPECT_LT(d.best_depth(tree), d.best_depth(chain));
}

// A drafter that must first run a long context pays only when the answer is long enough
// to win it back, and is not even tried when catching up would cost a real share of it.
TEST(DraftLength, WorkOwedBeforeDraftingIsSpreadOverWhatIsLeft) {
  DraftLength d(4, PassCost::measured(), 0.3, 2);
  for (int i = 0; i < 20; ++i) d.update(4, 4);  // nearly everything accepted
  // 5 steps owed, 1000 tokens to spread them over, but answers are often short: not up
  // front (more than 5 % of 64 tokens); once not drafting has lost as much, it drafts.
  EXPECT_EQ(d.best_depth({0, 5.0, 1000}), 0);
  EXPECT_GE(d.best_depth({0, 5.0, 1000, 1, 5.0}), 3);
  EXPECT_GE(d.best_depth({0, 3.0, 1000}), 3);           // within 5 % of a short answer
  EXPECT_EQ(d.best_depth({0, 60.0, 64}), 0);            // 60 steps owed for 64 tokens: never won back
  EXPECT_EQ(d.best_depth({0, 60.0, 64, 1, 100.0}), 0);  // whatever was lost before
  // 7 steps owed for at most 64 tokens would be won back if all 64 came, but answers often
  // stop far sooner: owing more than 5 % of the rest, it does not draft at all.
  EXPECT_GT(d.value(3, {0, 7.0, 64}), d.value(0, {0, 7.0, 64}));
  EXPECT_EQ(d.best_depth({0, 7.0, 64}), 0);
  EXPECT_GE(d.best_depth({0, 3.0, 64}), 3);
  DraftLength idle(4, PassCost::measured(), 0.3, 2);
  for (int i = 0; i < 20; ++i) idle.update(4, 0);  // nothing accepted: only tries
  int tries = 0;
  for (int pass = 0; pass < 20; ++pass) tries += idle.next({0, 60.0, 64});
  EXPECT_EQ(tries, 0);
  for (int pass = 0; pass < 20; ++pass) tries += idle.next({0, 0.0, 64});
  EXPECT_EQ(tries, 10);  // one token every second pass
}

}  // namespace
}  // namespace tandem
