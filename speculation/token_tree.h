#pragma once
// A tree of drafted tokens continuing a sequence, and the batch layout the
// forward pass consumes.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/transformer.h"

namespace tandem {

/// One drafted token.
struct TreeNode {
  int32_t token;
  int32_t parent;    // index of the parent node, -1 for a child of the last context token
  int32_t depth;     // 1 for children of the last context token
  float draft_prob;  // the drafter's probability of this token given its path
};

/// A drafter's distribution q over the tokens after one node, as (token, q) pairs
/// (absent tokens: q = 0). When a node's children carry one, they were drawn from it in
/// order, without replacement, and the verifier accepts by p/q; without one they are
/// deterministic guesses (point masses).
using Proposal = std::vector<std::pair<int32_t, float>>;

/// Most tokens a proposal may hold.
constexpr int kMaxProposalTokens = 256;

/// Drafted continuations of a context: parents always come before their children.
class TokenTree {
 public:
  /// Adds a node under `parent` (-1: under the last context token) and returns its index.
  int32_t add(int32_t token, int32_t parent, float draft_prob);
  /// Records that `parent`'s children were drawn, in the order added, from `q`.
  void set_proposal(int32_t parent, Proposal q);
  /// The distribution `parent`'s children were drawn from; null for deterministic drafts.
  const Proposal* proposal(int32_t parent) const;

  /// Number of nodes.
  int32_t size() const { return int32_t(nodes_.size()); }
  /// Whether there are no nodes.
  bool empty() const { return nodes_.empty(); }
  /// Node i.
  const TreeNode& operator[](int32_t i) const { return nodes_.at(size_t(i)); }
  /// Children of a node (-1: the first level), in the order they were added.
  std::vector<int32_t> children(int32_t node) const;
  /// Node indices from the first level down to `node`.
  std::vector<int32_t> path_to(int32_t node) const;
  /// Tokens along path_to(node).
  std::vector<int32_t> tokens_to(int32_t node) const;
  /// Deepest level (0 for an empty tree).
  int32_t depth() const;
  /// The nodes below `node` as a tree of their own (node's children its first level), at
  /// most `max_depth` levels, with their proposals.
  TokenTree subtree(int32_t node, int max_depth) const;

  /// Appends the nodes to `batch` as tokens of sequence `seq` whose first level sits at
  /// position `first_pos` below batch entry `root` (-1: directly after the cache).
  /// Node i becomes batch entry batch.size() + i; every node asks for logits.
  void append_to(std::vector<BatchToken>& batch, int32_t seq, int64_t first_pos, int32_t root) const;

  /// The nodes as flat bytes, TreeNode after TreeNode: the layout a device buffer holds on an
  /// NCCL link (no proposals: those travel with sampled drafts, over the wire format).
  std::string node_bytes() const;
  /// The tree node_bytes() gave. Bytes from a peer are checked: std::invalid_argument unless
  /// they are whole nodes whose parents come first, whose depths follow and whose tokens are
  /// in [0, vocab).
  static TokenTree from_node_bytes(std::string_view bytes, int32_t vocab);

 private:
  std::vector<TreeNode> nodes_;
  std::vector<Proposal> proposals_;  // [parent + 1]; empty: none
};

}  // namespace tandem
