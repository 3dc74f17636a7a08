#pragma once
// A chain drafted past what the verifier is checking, betting that all of it is
// accepted (PEARL's post-verify). Pure bookkeeping, shared by the drafter process
// (runner/remote_drafter) and the batch's PEARL drafting thread (runner/ahead_drafting).
//
//   context (the verifier's) | d1 d2 d3 (sent to verify) | d4 d5 ... (drafted ahead)
//   next context = context + d1 d2 d3 + b:  b == d4 ─▶ d5 ... are the next drafts
//                                           else    ─▶ start over from the new context
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "speculation/token_tree.h"

namespace tandem {

/// One drafted token and the distribution it was drawn from (empty: a greedy guess), and
/// maybe its runner-up: a sibling the verifier tries when it rejects the draft (drawn
/// second from q, or the second most likely token).
struct AheadDraft {
  TreeNode node;
  Proposal q;
  std::optional<TreeNode> alternative;
};

/// The drafts continuing a context, one chain.
class AheadChain {
 public:
  /// The verifier's context moved on: it is the old one cut to `keep` tokens, then `added`.
  /// When that is the old context followed by the chain's first tokens (every draft accepted
  /// and the bonus token guessed), the drafts after them stay; otherwise the chain starts
  /// over from the new context. Returns whether the drafts stayed.
  bool move_to(size_t keep, std::span<const int32_t> added);
  /// The first `max_depth` drafts as a chain tree, each level with the proposal it was drawn
  /// from and the runner-up, if any, as a leaf beside the draft.
  TokenTree chain(int max_depth) const;
  /// Appends a draft made after drafting_context().
  void push(AheadDraft draft) { drafts_.push_back(std::move(draft)); }
  /// The context followed by the drafts: what the next draft continues.
  std::vector<int32_t> drafting_context() const;
  /// The verifier's context.
  const std::vector<int32_t>& context() const { return context_; }
  /// Drafts ahead of the context.
  size_t size() const { return drafts_.size(); }
  /// Bumped whenever the chain starts over: a draft begun before must be dropped.
  uint64_t epoch() const { return epoch_; }

 private:
  std::vector<int32_t> context_;
  std::vector<AheadDraft> drafts_;
  uint64_t epoch_ = 0;
};

}  // namespace tandem
