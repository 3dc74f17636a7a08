#pragma once
// A tree of drafted tokens continuing a sequence, and the batch layout the
// forward pass consumes.
#include <cstdint>
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

/// Drafted continuations of a context: parents always come before their children.
class TokenTree {
 public:
  /// Adds a node under `parent` (-1: under the last context token) and returns its index.
  int32_t add(int32_t token, int32_t parent, float draft_prob);

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

  /// Appends the nodes to `batch` as tokens of sequence `seq` whose first level sits at
  /// position `first_pos` below batch entry `root` (-1: directly after the cache).
  /// Node i becomes batch entry batch.size() + i; every node asks for logits.
  void append_to(std::vector<BatchToken>& batch, int32_t seq, int64_t first_pos, int32_t root) const;

 private:
  std::vector<TreeNode> nodes_;
};

}  // namespace tandem
