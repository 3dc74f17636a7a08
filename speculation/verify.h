#pragma once
// Greedy verification of a drafted tree against the target model's logits.
#include <cstdint>
#include <vector>

#include "model/sampler.h"
#include "speculation/token_tree.h"

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

/// Lossless speculative sampling over a tree. At each node the children are tried in
/// order. Children drawn from a drafter's distribution q (tree.proposal(node)) are
/// accepted by recursive rejection sampling: x with probability min(1, p(x)/q(x)) under
/// the current target distribution p (sampling_distribution of the node's logits), p
/// becoming the normalised residual max(0, p - q) after each rejection. Deterministic
/// children are point-mass proposals: x accepted with probability p(x), a rejected x
/// removed from p. When no child is accepted the bonus token is drawn from what is left
/// of p. Each step is a rejection sampler whose output is distributed exactly as p, so
/// the whole output follows the target's distribution. Random numbers come from
/// (params.seed, position, attempt); the token chosen after the context sits at
/// absolute position `first_pos`.
Verdict verify_sampling(const TokenTree& tree, const float* root_logits, const float* node_logits, int32_t vocab,
                        const SamplingParams& params, int64_t first_pos);

}  // namespace tandem
