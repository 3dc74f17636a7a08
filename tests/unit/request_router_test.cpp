// The scheduler's table of requests in flight, without actors: routing by load, duplicate
// ids, replies from the verifier that runs a request only, and a lost verifier's requests.
#include "membership/request_router.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

using Refusal = Route::Refusal;
const auto kNow = std::chrono::steady_clock::time_point{};

Membership with_verifiers(std::initializer_list<const char*> names) {
  Membership m(1000);
  for (const char* name : names) {
    NodeInfo n;
    n.name = name;
    n.role = NodeRole::verifier;
    m.join(n, 0);
  }
  return m;
}

TEST(RequestRouter, SendsEachRequestToTheLeastBusyVerifier) {
  Membership m = with_verifiers({"v2", "v1"});
  RequestRouter router;
  EXPECT_EQ(router.route({"a", "1"}, m, kNow).verifier, "v1");  // a tie goes to the first name
  EXPECT_EQ(router.route({"a", "2"}, m, kNow).verifier, "v2");
  EXPECT_EQ(router.route({"b", "1"}, m, kNow).verifier, "v1");  // a request id is the client's own
  router.end({"a", "2"});
  EXPECT_EQ(router.route({"b", "2"}, m, kNow).verifier, "v2");
  EXPECT_EQ(router.size(), 3u);
  EXPECT_EQ(router.clients(), (std::vector<std::string>{"a", "b"}));
}

TEST(RequestRouter, RefusesADuplicateIdAndAClusterWithoutFreeVerifiers) {
  Membership m = with_verifiers({"v1"});
  RequestRouter router;
  ASSERT_EQ(router.route({"a", "1"}, m, kNow).refusal, Refusal::none);
  EXPECT_EQ(router.route({"a", "1"}, m, kNow).refusal, Refusal::duplicate_id);
  EXPECT_EQ(router.find({"a", "1"})->verifier, "v1");  // the first is untouched
  m.drain("v1");
  const Route none = router.route({"a", "2"}, m, kNow);
  EXPECT_EQ(none.refusal, Refusal::no_verifier);
  EXPECT_TRUE(none.verifier.empty());
  EXPECT_EQ(router.size(), 1u);  // a refused request is not in flight
}

TEST(RequestRouter, OnlyTheVerifierThatRunsARequestOwnsItsReplies) {
  Membership m = with_verifiers({"v1", "v2"});
  RequestRouter router;
  router.route({"a", "1"}, m, kNow);  // v1
  EXPECT_TRUE(router.owned_by({"a", "1"}, "v1"));
  EXPECT_FALSE(router.owned_by({"a", "1"}, "v2"));
  EXPECT_FALSE(router.owned_by({"a", "9"}, "v1"));
}

TEST(RequestRouter, ALostVerifierGivesUpExactlyItsRequests) {
  Membership m = with_verifiers({"v1", "v2"});
  RequestRouter router;
  router.route({"a", "1"}, m, kNow);  // v1
  router.route({"a", "2"}, m, kNow);  // v2
  router.route({"b", "1"}, m, kNow);  // v1
  const auto taken = router.take_requests_on("v1");
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].first, (RequestKey{"a", "1"}));
  EXPECT_EQ(taken[1].first, (RequestKey{"b", "1"}));
  EXPECT_EQ(router.size(), 1u);
  EXPECT_EQ(router.requests_of("a"), (std::vector<std::pair<std::string, std::string>>{{"2", "v2"}}));
  EXPECT_TRUE(router.requests_of("b").empty());
}

}  // namespace
}  // namespace tandem
