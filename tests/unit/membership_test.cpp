// The scheduler's membership table: joins, heartbeats, expiry, pairing, draining, restarts.
#include "membership/membership.h"

#include <gtest/gtest.h>

namespace tandem {
namespace {

NodeInfo node(const std::string& name, NodeRole role, const std::string& endpoint = "") {
  NodeInfo n;
  n.name = name;
  n.role = role;
  n.data_endpoint = endpoint;
  return n;
}

TEST(Membership, HeartbeatsKeepNodesAndSilenceDropsThem) {
  Membership m(1000);
  EXPECT_TRUE(m.join(node("v1", NodeRole::verifier), 0));
  EXPECT_TRUE(m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0));
  EXPECT_TRUE(m.heard("v1", 900, 2, 4096));
  EXPECT_FALSE(m.heard("ghost", 900, 0, 0));  // unknown: it must join again
  EXPECT_EQ(m.kv_cache_bytes(), 4096);
  auto gone = m.expire(1500);  // d1 last heard at 0, v1 at 900
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].name, "d1");
  EXPECT_TRUE(m.find("v1"));
  EXPECT_EQ(m.expire(1900).size(), 0u);  // exactly the timeout: still alive
  EXPECT_EQ(m.expire(1901).size(), 1u);
  EXPECT_TRUE(m.members(NodeRole::verifier).empty());
}

TEST(Membership, PairsVerifiersWithDraftersByLoad) {
  Membership m(1000);
  m.join(node("v1", NodeRole::verifier), 0);
  m.join(node("v2", NodeRole::verifier), 0);
  m.join(node("s1", NodeRole::shard, "tcp://s:1"), 0);  // shards serve every verifier: never paired
  m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0);
  // One drafter: it drafts for both verifiers.
  EXPECT_EQ(m.pair_by_load(), (std::vector<Pairing>{{"v1", "d1", ""}, {"v2", "d1", ""}}));
  EXPECT_TRUE(m.pair_by_load().empty());
  EXPECT_EQ(m.find("d1")->verifiers, (std::vector<std::string>{"v1", "v2"}));
  // A second drafter takes one of them over.
  m.join(node("d2", NodeRole::drafter, "tcp://b:2"), 0);
  EXPECT_EQ(m.pair_by_load(), (std::vector<Pairing>{{"v2", "d2", "d1"}}));
  EXPECT_EQ(m.find("v2")->partner, "d2");
  // A new verifier goes to the drafter with fewer live requests.
  m.heard("d1", 10, 5, 0);
  m.heard("d2", 10, 1, 0);
  m.join(node("v3", NodeRole::verifier), 10);
  EXPECT_EQ(m.pair_by_load(), (std::vector<Pairing>{{"v3", "d2", ""}}));
  // A lost drafter frees its verifiers for the others.
  auto left = m.leave("d2");
  ASSERT_TRUE(left);
  EXPECT_EQ(left->verifiers, (std::vector<std::string>{"v2", "v3"}));
  EXPECT_EQ(m.find("v2")->partner, "");
  EXPECT_EQ(m.pair_by_load(), (std::vector<Pairing>{{"v2", "d1", ""}, {"v3", "d1", ""}}));
  EXPECT_EQ(m.find("d1")->verifiers.size(), 3u);
  // A lost verifier leaves its drafter, and says which it was.
  left = m.leave("v1");
  EXPECT_EQ(left->partner, "d1");
  EXPECT_EQ(m.find("d1")->verifiers, (std::vector<std::string>{"v2", "v3"}));
  // A draining drafter takes no new verifier.
  m.drain("d1");
  m.join(node("v4", NodeRole::verifier), 20);
  EXPECT_TRUE(m.pair_by_load().empty());
  EXPECT_EQ(m.find("s1")->partner, "");
  EXPECT_EQ(m.members(NodeRole::shard).size(), 1u);
}

TEST(Membership, PairsOnlyADrafterOfTheVerifiersVocabulary) {
  Membership m(1000);
  NodeInfo verifier = node("v1", NodeRole::verifier), stranger = node("d1", NodeRole::drafter, "tcp://a:1"),
           fitting = node("d2", NodeRole::drafter, "tcp://b:2");
  verifier.vocabulary = fitting.vocabulary = "151936 tokens:aa";
  stranger.vocabulary = "49152 tokens:bb";
  m.join(verifier, 0);
  m.join(stranger, 0);
  EXPECT_TRUE(m.pair_by_load().empty());  // d1's token ids would mean other text
  m.join(fitting, 0);
  EXPECT_EQ(m.pair_by_load(), (std::vector<Pairing>{{"v1", "d2", ""}}));
  EXPECT_TRUE(m.find("d1")->verifiers.empty());
}

TEST(Membership, ALiveNameIsNotTakenAndARestartJoinsOnceTheOldNodeIsGone) {
  Membership m(1000);
  m.join(node("v1", NodeRole::verifier), 0);
  m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0);
  m.pair_by_load();
  EXPECT_TRUE(m.drain("v1"));
  EXPECT_FALSE(m.drain("nobody"));
  EXPECT_TRUE(m.find("v1")->draining);
  EXPECT_FALSE(m.join(node("v1", NodeRole::verifier), 10));  // an impostor, or a restart too soon
  EXPECT_FALSE(m.join(node("v1", NodeRole::drafter, "tcp://evil:1"), 10));
  EXPECT_TRUE(m.find("v1")->draining);  // the live one untouched, still paired
  EXPECT_EQ(m.find("v1")->partner, "d1");
  EXPECT_EQ(m.find("v1")->role, NodeRole::verifier);
  ASSERT_TRUE(m.leave("v1"));  // the old one goes (disconnected)
  EXPECT_TRUE(m.find("d1")->verifiers.empty());
  EXPECT_TRUE(m.join(node("v1", NodeRole::verifier), 20));  // the restart joins fresh
  EXPECT_FALSE(m.find("v1")->draining);
  m.join(node("d2", NodeRole::drafter, "tcp://b:2"), 20);
  m.heard("v1", 1400, 0, 0);
  m.heard("d2", 1400, 0, 0);
  const auto expired = m.expire(1500);  // d1, silent since 0
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].name, "d1");
  EXPECT_TRUE(m.join(node("d1", NodeRole::drafter, "tcp://a:2"), 1500));  // and an expired name is free again
  EXPECT_EQ(role_named("drafter"), NodeRole::drafter);
  EXPECT_EQ(role_named("shard"), NodeRole::shard);
  EXPECT_FALSE(role_named("oracle"));
}

TEST(Membership, ShardsAreListedWithTheirKeysAndAdmitEveryVerifier) {
  Membership m(1000);
  NodeInfo v1 = node("v1", NodeRole::verifier), v2 = node("v2", NodeRole::verifier);
  v1.data_key = "K1";  // v2 speaks plain ZeroMQ: nothing to admit
  NodeInfo s1 = node("s1", NodeRole::shard, "tcp://s:1"), s2 = node("s2", NodeRole::shard, "tcp://s:2");
  s1.data_key = "S1";
  for (const NodeInfo& n : {v1, v2, s1, s2}) m.join(n, 0);
  EXPECT_EQ(m.shard_list(), "tcp://s:1 S1,tcp://s:2");
  EXPECT_EQ(m.admitted_keys("s1"), "K1");
  m.drain("s1");  // draining: no new requests onto it
  EXPECT_EQ(m.shard_list(), "tcp://s:2");
  EXPECT_EQ(m.admitted_keys("v1"), "");  // a verifier admits no one
  EXPECT_EQ(m.admitted_keys("ghost"), "");
}

TEST(Membership, ADrafterAdmitsOnlyTheVerifiersItDraftsFor) {
  Membership m(1000);
  NodeInfo v1 = node("v1", NodeRole::verifier), v2 = node("v2", NodeRole::verifier);
  v1.data_key = "K1";
  v2.data_key = "K2";
  m.join(v1, 0);
  m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0);
  m.pair_by_load();
  EXPECT_EQ(m.admitted_keys("d1"), "K1");
  m.join(v2, 0);
  m.pair_by_load();
  EXPECT_EQ(m.admitted_keys("d1"), "K1,K2");
  m.leave("v1");
  EXPECT_EQ(m.admitted_keys("d1"), "K2");
}

}  // namespace
}  // namespace tandem
