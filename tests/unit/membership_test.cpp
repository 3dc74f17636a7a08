// The scheduler's membership table: joins, heartbeats, expiry, pairing, draining, restarts.
#include "cluster/membership.h"

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
  EXPECT_FALSE(m.join(node("v1", NodeRole::verifier), 0));
  EXPECT_FALSE(m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0));
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

TEST(Membership, PairsEachVerifierWithOneFreeDrafter) {
  Membership m(1000);
  m.join(node("v1", NodeRole::verifier), 0);
  m.join(node("v2", NodeRole::verifier), 0);
  m.join(node("s1", NodeRole::shard, "tcp://s:1"), 0);  // shards serve every verifier: never paired
  m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0);
  auto pairs = m.pair_free();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0], std::make_pair(std::string("v1"), std::string("d1")));
  EXPECT_TRUE(m.pair_free().empty());  // v2 waits: no free drafter
  m.join(node("d2", NodeRole::drafter, "tcp://b:2"), 0);
  pairs = m.pair_free();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0], std::make_pair(std::string("v2"), std::string("d2")));
  // A lost drafter frees its verifier for the next one.
  auto left = m.leave("d1");
  ASSERT_TRUE(left);
  EXPECT_EQ(left->partner, "v1");
  EXPECT_EQ(m.find("v1")->partner, "");
  m.join(node("d3", NodeRole::drafter, "tcp://c:3"), 0);
  pairs = m.pair_free();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0], std::make_pair(std::string("v1"), std::string("d3")));
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
  EXPECT_TRUE(m.pair_free().empty());  // d1's token ids would mean other text
  m.join(fitting, 0);
  auto pairs = m.pair_free();
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0], std::make_pair(std::string("v1"), std::string("d2")));
  EXPECT_EQ(m.find("d1")->partner, "");
}

TEST(Membership, ARestartReplacesTheNodeAndDrainingIsRemembered) {
  Membership m(1000);
  m.join(node("v1", NodeRole::verifier), 0);
  m.join(node("d1", NodeRole::drafter, "tcp://a:1"), 0);
  m.pair_free();
  EXPECT_TRUE(m.drain("v1"));
  EXPECT_FALSE(m.drain("nobody"));
  EXPECT_TRUE(m.find("v1")->draining);
  auto replaced = m.join(node("v1", NodeRole::verifier), 10);  // the same name joins again
  ASSERT_TRUE(replaced);
  EXPECT_TRUE(replaced->draining);
  EXPECT_FALSE(m.find("v1")->draining);
  EXPECT_EQ(m.find("d1")->partner, "");  // its old pairing ended with it
  EXPECT_EQ(role_named("drafter"), NodeRole::drafter);
  EXPECT_EQ(role_named("shard"), NodeRole::shard);
  EXPECT_FALSE(role_named("oracle"));
}

}  // namespace
}  // namespace tandem
