#pragma once
// Adaptive draft length: how deep to draft next, from the acceptance seen so far
// and what drafting and verifying cost. A pure class; the generator drives it.
#include <cstdint>

#include "speculation/pass_cost.h"

namespace tandem {

/// Picks the draft depth that maximises expected tokens per unit of work.
///
/// With per-token acceptance probability a, a chain of L drafts yields
/// (1 - a^(L+1)) / (1 - a) tokens per verifier pass (accepted drafts plus the
/// target's own token) and costs verify.steps(1 + L * tokens_per_level) + L * draft_cost
/// single-token target steps: the measured cost of a verifier pass over the drafted
/// tokens, and draft_cost what drafting one level costs, in target decode steps.
/// When drafting does not pay (depth 0), it still drafts one token every
/// `explore_every` passes so the estimate of a can recover.
class DraftLength {
 public:
  DraftLength(int max_depth, PassCost verify, double draft_cost, int explore_every = 8);
  /// A verifier pass costing 1 + verify_cost per extra token.
  DraftLength(int max_depth, double verify_cost, double draft_cost, int explore_every = 8)
      : DraftLength(max_depth, PassCost::linear(verify_cost), draft_cost, explore_every) {}

  /// Depth for the next pass (0..max_depth).
  int next();
  /// After a pass: `drafted` the depth offered on the accepted branch's path, `accepted` how many were kept.
  void update(int drafted, int accepted);
  /// Current estimate of the per-token acceptance probability.
  double acceptance() const { return accepted_ / (accepted_ + rejected_); }
  /// Expected tokens per unit of work at depth L under the current estimate.
  double value(int depth) const;

 private:
  int max_depth_;
  PassCost verify_;
  double draft_cost_;
  int explore_every_;
  int idle_passes_ = 0;
  // Decayed counts of accepted and rejected draft tokens (a Beta(1,1) prior to start).
  double accepted_ = 1.0, rejected_ = 1.0;
};

}  // namespace tandem
