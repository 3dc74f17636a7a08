#pragma once
// PEARL's bookkeeping as a pure class: what the drafter should be continuing, what
// the verifier checks next, and what a verdict does to both. Threads (next issue
// step) only drive it; this class never waits, computes or touches a tensor.
//
//   drafter:  draft ──token──▶ on_draft ─┐         ┌── rollback (epoch+1) ◀─┐
//                                          ▼         │                        │
//   pipeline: committed | pending | drafts d1 d2 d3 d4 ...                    │
//                                          │                                  │
//   verifier: next_verify ──[pending, d1..dk]──▶ forward ──▶ on_verdict ──────┘
//
// Pre-verify: the verifier may start on fewer drafts than the window while the
// drafter keeps going. Post-verify: the drafter keeps drafting past the tokens
// under verification, betting they are all accepted; drafts made before a
// rollback carry an old epoch and are ignored when they arrive late.
#include <cstdint>
#include <optional>
#include <vector>

#include "speculation/draft_length.h"
#include "speculation/token_tree.h"

namespace tandem {

/// Tokens the verifier checks in one pass: `pending` (already decided, not yet in its
/// cache) followed by the drafts; the first draft sits at position start + 1. With tree
/// drafting, alternatives[i] (-1: none) is the drafter's runner-up for drafts[i]'s
/// position, a sibling the verifier checks too: the drafts then form a tree. For a
/// sampled request, proposals[i] is the distribution drafts[i] (and then its
/// alternative, without replacement) was drawn from; empty: a greedy guess.
struct VerifyRequest {
  int64_t start;  // position of `pending`
  int32_t pending;
  std::vector<int32_t> drafts;
  std::vector<int32_t> alternatives;  // [drafts.size()]
  std::vector<Proposal> proposals;    // [drafts.size()]
};

/// The verifier's answer: how many of the request's drafts it accepted, then the
/// alternative it took instead of the next draft (-1: none), and its own next token.
struct VerifyResult {
  int accepted;
  int32_t bonus;
  int32_t alternative = -1;
};

/// The request's drafts (and alternatives) as a token tree: the drafts a chain, each
/// alternative a sibling of its draft. Also gives, for a verdict's accepted node path,
/// the VerifyResult the pipeline expects.
class PearlTree {
 public:
  explicit PearlTree(const VerifyRequest& request);
  /// The tree to verify.
  const TokenTree& tree() const { return tree_; }
  /// The result for `accepted` (node indices from the first level down) and `bonus`.
  VerifyResult result(const std::vector<int32_t>& accepted, int32_t bonus) const;

 private:
  TokenTree tree_;
  std::vector<bool> is_alternative_;  // [tree size]
};

/// One request's PEARL state.
class PearlPipeline {
 public:
  /// `window`: drafts per verify request at first; afterwards the window is the depth
  /// DraftLength finds most productive (between 1 and max_window) from the acceptance
  /// seen so far, with `verify_cost` what a verifier pass over k tokens costs
  /// (drafting costs the verifier nothing: it happens on the other side).
  PearlPipeline(const std::vector<int32_t>& prompt, int window, int max_window,
                PassCost verify_cost = PassCost::measured());

  /// The drafter's epoch; a draft must carry the epoch it was drafted in.
  uint64_t epoch() const { return epoch_; }
  /// Tokens the drafter should be continuing in this epoch (committed + pending + drafts so far).
  std::vector<int32_t> drafter_context() const;
  /// The drafter produced its next token (and, drafting trees, its runner-up, else -1),
  /// drawn from `q` when the request samples. Returns false (and ignores it) if it is stale.
  bool on_draft(uint64_t epoch, int32_t token, int32_t alternative = -1, Proposal q = {});

  /// What the verifier should check now, if it is idle: the pending token plus up to
  /// `window` drafts that are not under verification. With no draft yet it still
  /// verifies the pending token alone (the target never waits for the drafter).
  std::optional<VerifyRequest> next_verify();
  /// The verdict on the request in flight. Rolls the drafter back (new epoch) when the
  /// drafts it built on are no longer the target's path.
  void on_verdict(const VerifyResult& result);

  /// Tokens decided so far after the prompt (accepted drafts and bonus tokens).
  const std::vector<int32_t>& output() const { return output_; }
  /// Whether a request is in flight.
  bool verifying() const { return in_flight_ > 0 || in_flight_pending_; }
  /// Current draft window.
  int window() const { return window_; }
  /// Drafts waiting (not yet sent to the verifier).
  int queued_drafts() const { return int(drafts_.size()) - in_flight_; }

 private:
  std::vector<int32_t> context_;  // prompt + output: everything decided, pending included
  std::vector<int32_t> output_;
  std::vector<int32_t> drafts_;        // the drafter's chain after context_ (this epoch)
  std::vector<int32_t> alternatives_;  // [drafts_.size()] runner-up per draft, -1: none
  std::vector<Proposal> proposals_;    // [drafts_.size()] what each was drawn from (sampled requests)
  uint64_t epoch_ = 0;
  int in_flight_ = 0;  // drafts_[0, in_flight_) are under verification
  bool in_flight_pending_ = false;
  int window_, max_window_;
  DraftLength depth_;
};

}  // namespace tandem
