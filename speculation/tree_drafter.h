#pragma once
// Dynamic draft trees from a draft model (the idea of EAGLE-2, DySpec, Sequoia):
// grow the tree where the draft model is most confident, within a node budget.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <vector>

#include "speculation/draft_model_cache.h"
#include "speculation/drafter.h"

namespace tandem {

/// Shape limits of a dynamic tree.
struct TreeShape {
  int budget = 10;    // most nodes sent to the verifier
  int branching = 3;  // children proposed under each expanded node (the draft model's top choices)
  int width = 2;      // nodes expanded per level: those with the highest path probability
};

/// Drafts a tree level by level. The score of a node is its path probability under
/// the draft model (the product of the draft probabilities from the first level
/// down). A greedy request's children are the draft model's top choices; a sampled
/// request's are drawn from its distribution without replacement, and its scores are
/// their perturbed keys (perturbed_children), so that which nodes are sent never
/// depends on which tokens were drawn; a child is sent only with every sibling drawn
/// before it, as the verifier's recursive rejection sampling needs. Each level expands the `width` best-scoring nodes
/// of the previous one with one draft-model pass over just those nodes (their ancestors' keys and values stay as
/// pending cache rows), and the tree sent is the `budget` best-scoring nodes overall, which always include each node's
/// parent.
class TreeDrafter : public Drafter {
 public:
  /// `max_depth` levels at most; the draft cache holds up to `max_context` positions.
  TreeDrafter(Transformer& draft_model, TreeShape shape, int max_depth, int64_t max_context);
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;
  /// draft() for several requests' drafters (of one draft model) at once: their contexts
  /// share forward passes, and so does each level's expansion. The same trees as one at a time.
  static std::vector<TokenTree> draft_together(std::span<TreeDrafter* const> drafters,
                                               std::span<const std::vector<int32_t>* const> contexts,
                                               std::span<const int> max_depths);
  /// Changes the node budget of later drafts.
  void set_budget(int budget) { shape_.budget = budget; }

 private:
  struct Candidate {
    int32_t token;
    int32_t parent;  // candidate index, -1 on the first level
    int32_t depth;
    float prob;    // draft probability given the parent's path
    double score;  // path probability (sampled: e to the perturbed key)
    int64_t row;   // pending cache row once expanded, else -1
  };
  // Adds the `branching` most likely children of `parent` under `logits`.
  void add_children(const float* logits, int32_t parent);
  // Keeps the draft cache rows of the previous tree that `context` went on to accept.
  void reuse_accepted_rows(const std::vector<int32_t>& context);
  // Starts a draft for `context`: keeps the rows the last one got accepted, forgets its
  // candidates; returns how many levels to draft (0: none).
  int begin(const std::vector<int32_t>& context, int max_depth);
  // The nodes of `level` (candidate indices) worth expanding: the best `width` that could
  // still make the budget.
  std::vector<int32_t> choose(const std::vector<int32_t>& level) const;
  // Appends the chosen nodes to `batch` as sequence `seq` (after a context of `first_pos`
  // tokens); returns the pending row the first of them will take.
  int64_t append_expansion(const std::vector<int32_t>& chosen, int64_t first_pos, int32_t seq,
                           std::vector<BatchToken>& batch);
  // After the forward: records the chosen nodes' rows and adds their children from
  // `logits` ([chosen][vocab]); returns the next level.
  std::vector<int32_t> grow(const std::vector<int32_t>& chosen, const float* logits, int64_t first_row);
  // The tree of the budget best candidates.
  TokenTree finish();

  DraftModelCache cache_;
  TreeShape shape_;
  int max_depth_;
  std::vector<Candidate> candidates_;
  std::map<int32_t, Proposal> proposals_;  // sampled: candidate (-1: the root) -> what its children were drawn from
};

/// A sampled node's children by Stochastic Beam Search (Kool et al., 2019): every token
/// of q gets the key log q + Gumbel noise; the `k` largest, in falling order, are a draw
/// of k tokens from q without replacement. Their keys, shifted so that their maximum is
/// the parent's (`parent_log_score`), rank them against the rest of the tree: the keys
/// say nothing about which tokens were drawn, so choosing nodes by them keeps the
/// verifier's acceptance exact. Returns (token, log score) pairs.
std::vector<std::pair<int32_t, double>> perturbed_children(const Proposal& q, double parent_log_score, int k,
                                                           const std::function<double()>& uniform);

/// The `k` largest entries of logits[0, n) (ties: lower index first), largest first.
std::vector<int32_t> top_k(const float* logits, int32_t n, int k);

}  // namespace tandem
