// One pass's prompt-token budget shared among the prompts coming in: evenly among clients,
// then among a client's prompts; what one leaves goes to those after it; never past the budget.
#include "server/prefill_shares.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(PrefillShares, ClientsShareEvenlyWhateverTheirPromptCounts) {
  // Client a has three prompts coming in, b one: b gets half the pass, a's three the other half.
  PrefillShares shares(128, {"a", "a", "a", "b"});
  int64_t a_total = 0;
  for (int i = 0; i < 3; ++i) {
    const int64_t s = shares.share("a");
    shares.took("a", s);
    a_total += s;
  }
  EXPECT_EQ(a_total, 64);
  EXPECT_EQ(shares.share("b"), 64);
}

TEST(PrefillShares, WhatAPromptLeavesGoesToThoseAfterIt) {
  PrefillShares shares(128, {"a", "b", "c"});
  EXPECT_EQ(shares.share("a"), 43);
  shares.took("a", 3);               // a short prompt's last 3 tokens
  EXPECT_EQ(shares.share("b"), 63);  // (128 - 3) / 2, rounded up
  shares.took("b", 63);
  EXPECT_EQ(shares.share("c"), 62);  // all that is left
  shares.took("c", 62);
}

TEST(PrefillShares, NeverMoreThanTheBudgetAndNothingFromNothing) {
  PrefillShares shares(5, {"a", "b", "c", "d", "e", "f", "g"});
  int64_t total = 0;
  for (const char* c : {"a", "b", "c", "d", "e", "f", "g"}) {
    const int64_t s = shares.share(c);
    EXPECT_GE(s, 0);
    shares.took(c, s);
    total += s;
  }
  EXPECT_EQ(total, 5);
  PrefillShares none(0, {"a"});
  EXPECT_EQ(none.share("a"), 0);
}

}  // namespace
}  // namespace tandem
