// Token trees and verdicts over the wire: exact round trips, and every malformed
// message refused with a clear error.
#include "proto/tree_wire.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

namespace tandem {
namespace {

// 5 ─┬─ 6 ── 8
//    └─ 7
TokenTree sample_tree() {
  TokenTree t;
  int32_t a = t.add(5, -1, 0.5f);
  int32_t b = t.add(6, a, 0.25f);
  t.add(7, a, 0.125f);
  t.add(8, b, 1.0f);
  return t;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) { return e.what(); }
  return "";
}

TEST(TreeWire, RoundTripsThroughBytes) {
  TokenTree tree = sample_tree();
  std::string bytes = tree_to_wire(tree, 42, 17).SerializeAsString();
  wire::TokenTree parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.request_id(), 42u);
  EXPECT_EQ(parsed.first_position(), 17);
  TokenTree back = tree_from_wire(parsed, 100);
  ASSERT_EQ(back.size(), tree.size());
  for (int32_t i = 0; i < tree.size(); ++i) {
    EXPECT_EQ(back[i].token, tree[i].token);
    EXPECT_EQ(back[i].parent, tree[i].parent);
    EXPECT_EQ(back[i].depth, tree[i].depth);
    EXPECT_EQ(back[i].draft_prob, tree[i].draft_prob);
  }
  EXPECT_LT(bytes.size(), 64u);  // packed arrays: a handful of bytes per node
}

// The flat layout an NCCL link's device buffer holds: exact both ways, and checked on the way in.
TEST(TreeWire, NodeBytesRoundTripAndAreChecked) {
  const TokenTree tree = sample_tree();
  const std::string bytes = tree.node_bytes();
  EXPECT_EQ(bytes.size(), 4 * sizeof(TreeNode));
  EXPECT_EQ(TokenTree::from_node_bytes(bytes, 100).node_bytes(), bytes);
  EXPECT_TRUE(TokenTree::from_node_bytes("", 100).empty());
  EXPECT_EQ(error_of([&] { TokenTree::from_node_bytes(bytes.substr(1), 100); }), "63 bytes are not whole tree nodes");
  EXPECT_EQ(error_of([&] { TokenTree::from_node_bytes(bytes, 8); }), "tree token 8 is not in the vocabulary");
  auto changed = [&](size_t node, size_t field, int32_t value) {
    std::string b = bytes;
    std::memcpy(b.data() + node * sizeof(TreeNode) + field * 4, &value, 4);
    return b;
  };
  EXPECT_EQ(error_of([&] { TokenTree::from_node_bytes(changed(1, 1, 3), 100); }), "tree parent 3 does not exist");
  EXPECT_EQ(error_of([&] { TokenTree::from_node_bytes(changed(0, 1, -7), 100); }), "tree parent -7 does not exist");
  EXPECT_EQ(error_of([&] { TokenTree::from_node_bytes(changed(3, 2, 9), 100); }),
            "tree node depth 9 does not follow its parent's");
}

TEST(TreeWire, RefusesMalformedTrees) {
  auto with = [](const std::function<void(wire::TokenTree&)>& change) {
    wire::TokenTree m = tree_to_wire(sample_tree(), 1, 0);
    change(m);
    return error_of([&] { tree_from_wire(m, 100); });
  };
  EXPECT_EQ(with([](wire::TokenTree&) {}), "");
  EXPECT_EQ(with([](wire::TokenTree& m) { m.add_tokens(3); }),
            "token tree arrays differ in length: 5 tokens, 4 parents, 4 probabilities");
  EXPECT_EQ(with([](wire::TokenTree& m) { m.set_parents(1, 2); }),
            "token tree node 1: parent 2 is not an earlier node");
  EXPECT_EQ(with([](wire::TokenTree& m) { m.set_parents(0, -5); }),
            "token tree node 0: parent -5 is not an earlier node");
  EXPECT_EQ(with([](wire::TokenTree& m) { m.set_tokens(2, 100); }),
            "token tree node 2: token id 100 is outside the vocabulary of 100");
  EXPECT_NE(with([](wire::TokenTree& m) { m.set_draft_probs(3, std::nanf("")); }).find("is not in [0, 1]"),
            std::string::npos);
  EXPECT_EQ(with([](wire::TokenTree& m) { m.set_first_position(-1); }), "token tree starts at negative position -1");
  EXPECT_EQ(with([](wire::TokenTree& m) {
              for (int i = 0; i < kMaxWireTreeNodes; ++i) {
                m.add_tokens(1);
                m.add_parents(-1);
                m.add_draft_probs(0.5f);
              }
            }),
            "token tree of 4100 nodes exceeds the limit of 4096");
  wire::TokenTree garbage;
  EXPECT_FALSE(garbage.ParseFromString(std::string("\xff\xff\xff\xff\x0f", 5)));
}

// The sample tree drawn from proposals: node 0 from {5, 9}, nodes 1 and 2 from {6, 7, 3}.
TokenTree sampled_tree() {
  TokenTree t = sample_tree();
  t.set_proposal(-1, {{5, 0.75f}, {9, 0.25f}});
  t.set_proposal(0, {{6, 0.5f}, {7, 0.25f}, {3, 0.25f}});
  return t;
}

TEST(TreeWire, ProposalsRoundTrip) {
  TokenTree tree = sampled_tree();
  wire::TokenTree m;
  ASSERT_TRUE(m.ParseFromString(tree_to_wire(tree, 1, 0).SerializeAsString()));
  TokenTree back = tree_from_wire(m, 100);
  for (int32_t parent : {-1, 0})
    ASSERT_TRUE(back.proposal(parent) && *back.proposal(parent) == *tree.proposal(parent)) << parent;
  EXPECT_EQ(back.proposal(1), nullptr);  // node 1's child was a greedy guess
}

TEST(TreeWire, RefusesProposalsThatAreNotDistributionsOfTheirChildren) {
  auto with = [](const std::function<void(wire::Proposal&)>& change) {
    wire::TokenTree m = tree_to_wire(sampled_tree(), 1, 0);
    change(*m.mutable_proposals(1));  // node 0's
    return error_of([&] { tree_from_wire(m, 100); });
  };
  EXPECT_EQ(with([](wire::Proposal&) {}), "");
  EXPECT_EQ(with([](wire::Proposal& w) { w.add_tokens(4); }),
            "proposal for node 0: tokens and probabilities differ in number");
  EXPECT_EQ(with([](wire::Proposal& w) { w.set_tokens(2, 6); }),
            "proposal for node 0: token 6 is outside the vocabulary or repeated");
  EXPECT_EQ(with([](wire::Proposal& w) { w.set_tokens(2, 100); }),
            "proposal for node 0: token 100 is outside the vocabulary or repeated");
  EXPECT_NE(with([](wire::Proposal& w) { w.set_probs(2, 0.0f); }).find("is not in (0, 1]"), std::string::npos);
  EXPECT_NE(with([](wire::Proposal& w) { w.set_probs(2, std::nanf("")); }).find("is not in (0, 1]"), std::string::npos);
  EXPECT_NE(with([](wire::Proposal& w) { w.set_probs(2, 0.5f); }).find("sum to 1.25"), std::string::npos);
  EXPECT_EQ(with([](wire::Proposal& w) { w.set_tokens(1, 4); }),
            "proposal for node 0: child token 7 is not in it, or repeated");
  EXPECT_EQ(with([](wire::Proposal& w) { w.set_parent(-1); }),
            "proposal for node -1: no such node, or a second proposal for it");
  EXPECT_EQ(with([](wire::Proposal& w) { w.set_parent(4); }),
            "proposal for node 4: no such node, or a second proposal for it");
  EXPECT_NE(with([](wire::Proposal& w) {
              for (int i = 0; i < kMaxProposalTokens; ++i) {
                w.add_tokens(10 + i);
                w.add_probs(0.001f);
              }
            }).find("not between 1 and 256"),
            std::string::npos);
}

}  // namespace
}  // namespace tandem
