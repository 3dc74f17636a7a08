#pragma once
// Adaptive draft length: how deep to draft next, from the acceptance seen so far
// and what drafting and verifying cost. A pure class; the generator drives it.
#include <cstdint>

namespace tandem {

/// Picks the draft depth that maximises expected tokens per unit of work.
///
/// With per-token acceptance probability a, a chain of L drafts yields
/// (1 - a^(L+1)) / (1 - a) tokens per verifier pass (accepted drafts plus the
/// target's own token) and costs 1 + L * (verify_cost + draft_cost) single-token
/// target steps, where verify_cost is what one more token adds to a verifier pass
/// and draft_cost what drafting one token costs, both in target decode steps.
/// When drafting does not pay (depth 0), it still drafts one token every
/// `explore_every` passes so the estimate of a can recover.
class DraftLength {
 public:
  DraftLength(int max_depth, double verify_cost, double draft_cost, int explore_every = 8);

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
  double verify_cost_, draft_cost_;
  int explore_every_;
  int idle_passes_ = 0;
  // Decayed counts of accepted and rejected draft tokens (a Beta(1,1) prior to start).
  double accepted_ = 1.0, rejected_ = 1.0;
};

}  // namespace tandem
