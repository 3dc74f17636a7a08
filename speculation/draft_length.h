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
///
/// In a batch, `context.rows_before` rows of other requests share the pass, and each is taken to
/// yield about a token's worth of work: the pass then yields rows_before + E(L) for
/// verify.steps(rows_before + 1 + L * tokens_per_level) + L * draft_cost, and a depth pays
/// when it raises that rate for the whole pass. Where the curve is flat (a pass that streams
/// the weights) drafts cost almost nothing; where it is steep (a compute-bound batch) each
/// drafted token costs a token's full share, and drafting no longer pays.
///
/// A drafter may owe work before it can draft (`context.catch_up`: a draft model that has
/// not yet run the context). That is paid once and spread over the passes left, about
/// remaining / E(L) of them. But `remaining` is only the request's limit, and answers often
/// stop long before it (a 13-token answer to a 200-token extraction prompt under a limit
/// of 64 paid 7 steps of catching up for nothing). So a drafter may owe up front at most
/// kMaxCatchUpShare of a short answer (kShortAnswer tokens, or the rest if less); past
/// that it drafts only once the request has lost as much by not drafting with it
/// (`context.forgone`, AutoDrafter's running estimate) as catching up costs. That is the
/// ski-rental rule: a long answer soon wins the debt back, and a short one never pays
/// more than about twice what the better choice in hindsight would have, whatever the
/// request's limit.
///
/// `context.cost_scale` multiplies what drafting adds to a plain pass (the extra rows'
/// share of the pass and the drafting itself): how far this machine's measured passes
/// stray from the model's fixed numbers just now (PassTimes::scale).
struct DraftContext {
  double rows_before = 0;     // other requests' rows in the same pass
  double catch_up = 0;        // target decode steps the drafter must spend before drafting
  double remaining = 1e9;     // tokens the request may still produce
  double cost_scale = 1;      // measured over modelled cost of drafting's extra
  double forgone = 0;         // target steps this request has lost so far by not drafting with it
  double rows_per_level = 0;  // rows a drafted level adds to the pass (0: the cost curve's tokens_per_level)
};

class DraftLength {
 public:
  DraftLength(int max_depth, PassCost verify, double draft_cost, int explore_every = 8);
  /// A verifier pass costing 1 + verify_cost per extra token.
  DraftLength(int max_depth, double verify_cost, double draft_cost, int explore_every = 8)
      : DraftLength(max_depth, PassCost::linear(verify_cost), draft_cost, explore_every) {}

  static constexpr double kMaxCatchUpShare = 0.05;
  static constexpr double kShortAnswer = 64;  // tokens

  /// Depth for the next pass (0..max_depth).
  int next(const DraftContext& context = {});
  /// After a pass: `drafted` the depth offered on the accepted branch's path, `accepted` how many were kept.
  void update(int drafted, int accepted);
  /// Starts the estimate at acceptance `a` (in (0, 1)) instead of the even prior, as if
  /// seen over a couple of passes: later passes soon outweigh it.
  void start_from(double a);
  /// Current estimate of the per-token acceptance probability.
  double acceptance() const { return accepted_ / (accepted_ + rejected_); }
  /// Expected tokens a pass yields at depth L under the current estimate (its accepted
  /// drafts and the target's own token).
  double expected_tokens(int depth) const;
  /// Expected tokens per unit of work at depth L under the current estimate.
  double value(int depth, const DraftContext& context = {}) const;
  /// The best depth now (0: drafting does not pay), without exploring or counting a pass.
  int best_depth(const DraftContext& context = {}) const;
  /// Whether catching up would cost more than kMaxCatchUpShare of a short answer (or of what
  /// is left, if less) and more than what not drafting has lost so far: no drafting.
  static bool owes_too_much(const DraftContext& context);

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
