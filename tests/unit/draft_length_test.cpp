// Adaptive draft length on scripted acceptance sequences.
#include "spec/draft_length.h"

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

}  // namespace
}  // namespace tandem
