// Who joins the batch next, without a model: the fewest running slots first, then the
// client served longest ago, then arrival; requests for several samples wait for room
// without holding others up, and without being starved.
#include "server/admission.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

TEST(Admission, TheClientWithTheFewestRunningGoesFirst) {
  Admission admission(8);
  const std::vector<WaitingRequest> waiting = {{"a"}, {"a"}, {"b"}};
  EXPECT_EQ(admission.choose(waiting, {{"a", 2}, {"b", 1}}, 3).start, 2u);
  EXPECT_EQ(admission.choose(waiting, {{"a", 1}, {"b", 1}}, 2).start, 0u);  // a tie keeps arrival order
  EXPECT_EQ(admission.choose(waiting, {}, 0).start, 0u);
}

TEST(Admission, AmongEqualsTheClientServedLongestAgoGoesFirst) {
  Admission admission(8);
  admission.started("a");
  admission.started("b");
  EXPECT_EQ(admission.choose({{"b"}, {"a"}}, {}, 0).start, 1u);  // a started before b
  admission.started("a");
  EXPECT_EQ(admission.choose({{"b"}, {"a"}}, {}, 0).start, 0u);
  EXPECT_EQ(admission.choose({{"c"}, {"b"}}, {}, 0).start, 0u);  // never served: first
}

TEST(Admission, ManySamplesWaitForRoomWhileOthersGoAhead) {
  Admission admission(4);
  const std::vector<WaitingRequest> waiting = {{"a", 4}, {"b", 1}};
  AdmitChoice choice = admission.choose(waiting, {{"c", 2}}, 2);  // room for 2: b goes ahead of a
  EXPECT_EQ(choice.start, 1u);
  EXPECT_EQ(choice.passed_over, 0u);
  EXPECT_EQ(admission.choose(waiting, {}, 0).start, 0u);           // an empty batch takes it whole
  choice = admission.choose({{"a", 4}, {"b", 4}}, {{"c", 1}}, 1);  // nothing fits: start none yet
  EXPECT_FALSE(choice.start);
}

TEST(Admission, ARequestPassedOverMaxBatchTimesWaitsFirstInLine) {
  Admission admission(4);
  const AdmitChoice choice = admission.choose({{"a", 3, 4}, {"b", 1}}, {{"c", 2}}, 2);
  EXPECT_FALSE(choice.start);  // b would fit, but a has waited long enough
  EXPECT_FALSE(choice.passed_over);
  EXPECT_EQ(admission.choose({{"a", 3, 3}, {"b", 1}}, {{"c", 2}}, 2).start, 1u);
}

}  // namespace
}  // namespace tandem
