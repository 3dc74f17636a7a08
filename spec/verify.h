#pragma once
// Greedy verification of a drafted tree against the target model's logits.
#include <cstdint>
#include <vector>

#include "spec/token_tree.h"

namespace tandem {

/// What the target accepted from a tree.
struct Verdict {
  std::vector<int32_t> accepted;  // node indices from the first level down, each the target's argmax
  int32_t bonus = -1;             // the target's own token after the accepted path
};

/// Follows the target's argmax (ties: lowest id) from the last context token down the
/// tree: `root_logits` are the target's logits after the context, `node_logits` row i
/// ([tree.size()][vocab]) its logits after node i. The longest matching branch is
/// accepted, plus one bonus token, so the output equals plain greedy decoding.
Verdict verify_greedy(const TokenTree& tree, const float* root_logits, const float* node_logits, int32_t vocab);

}  // namespace tandem
