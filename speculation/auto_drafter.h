#pragma once
// Mode `auto`: speculation when, and only when, it pays. Each pass, for each request, it
// weighs plain decoding against every drafter it holds (prompt lookup, token recycling and,
// with a draft model, the model's chain), each with its own acceptance so far (DraftLength's
// decayed estimate) and its own cost per drafted token, against what the pass costs given
// the rows other requests already put in it; it drafts with the best one, as deep as pays,
// or not at all. Output is exact whatever it picks: every drafter's tree is verified as in
// its own mode.
//
// Learning what each drafter would be worth: drafters that cost nothing to draft (lookup,
// recycle) draft every pass anyway, and what they drafted but was not sent is scored
// against the tokens the pass produced ("in shadow"); a drafter with a cost (the draft
// model) instead takes a pass now and then for a one-token try, while it does not pay;
// and one request in kRemeasureAfter drafts with it at full depth for its first
// kTrialPasses passes, so that the process's estimate is a recent measurement, not a guess
// nor one unlucky pass from long ago. When the draft model catches up on output that
// other drafters' passes produced, its greedy guesses there are replayed as the passes it
// would have drafted (replay_guesses): else it would be scored only on the passes the free
// drafters had nothing for, which are the hard ones.
//
// A drafter that must first catch up with a long context waits until not drafting with it
// has lost this request as much as catching up costs (DraftLength's ski-rental rule); auto
// keeps that loss, pass by pass, per drafter.
//
// Learning what drafting costs here and now: each pass alone in its batch is timed (from one
// draft() to the next: drafting, the pass, and what follows it) and kept in PassTimes
// against what the model priced it at; a plain pass now and then times the decode step
// itself, early where drafting would gain little then (kCheapPlainPass), and at the latest
// every PassTimes::kStepAtLatest passes. Their ratio scales the model's price of drafting.
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "speculation/draft_length.h"
#include "speculation/drafter.h"
#include "speculation/pass_times.h"

namespace tandem {

/// Auto's label for a pass it drafted nothing for (plain decoding's mode name).
inline const std::string kNoDraftChoice = "ar";

/// One drafter auto may use.
struct AutoCandidate {
  std::string name;  // the mode it stands for: "lookup", "recycle", "chain"
  std::unique_ptr<Drafter> drafter;
  int max_depth = 0;         // most levels it drafts in a pass
  double draft_cost = 0.0;   // work per drafted level, in target decode steps
  int explore_every = 8;     // passes between one-token tries while it does not pay
  double catch_up_cost = 0;  // work per context token it has not run yet (Drafter::unseen_tokens), in target steps
};

/// Each candidate's acceptance over this process's recent auto requests: a new request
/// starts from it, so a drafter that has been paying is used from the first pass.
class RecentAcceptance {
 public:
  static constexpr int kRemeasureAfter = 8;  // requests

  RecentAcceptance() = default;
  /// Copies are for setting a state back: a benchmark that repeats a request starts every
  /// repeat from the same estimates, so that each makes the same choices.
  RecentAcceptance(const RecentAcceptance& other);
  RecentAcceptance& operator=(const RecentAcceptance& other);

  /// The estimate for `name` (0.5 before anything was seen).
  double of(const std::string& name) const;
  /// After a pass drafted `drafted` levels with `name`, `accepted` of them kept.
  void add(const std::string& name, int drafted, int accepted);
  /// Asked once per request that could use `name`: whether this request should measure it
  /// (nothing measured yet, or nothing in the last kRemeasureAfter such requests).
  bool due_for_trial(const std::string& name);
  /// This process's.
  static RecentAcceptance& process();

 private:
  struct Estimate {
    DraftLength acceptance{0, PassCost::linear(0.0), 0.0};
    int requests_since = 0;  // requests that could have used it since it last drafted
  };
  mutable std::mutex mutex_;
  std::map<std::string, Estimate> estimates_;
};

class AutoDrafter : public Drafter {
 public:
  static constexpr int kTrialPasses = 4;
  // A plain pass that times the step is taken early (after PassTimes::kStepEvery passes)
  // only where the best draft is worth at most this many times a plain pass.
  static constexpr double kCheapPlainPass = 1.15;

  /// `verify` is the cost of a pass over k tokens; `pass_rows`, when given, holds the rows
  /// of the batch's latest pass (the server's worker keeps it), so that a request in a
  /// crowded batch weighs its drafts against their marginal cost there. `times`, when
  /// given, is where passes are timed and the model's prices corrected from.
  AutoDrafter(std::vector<AutoCandidate> candidates, PassCost verify, const std::atomic<int64_t>* pass_rows = nullptr,
              RecentAcceptance* recent = &RecentAcceptance::process(), PassTimes* times = &PassTimes::process());

  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;
  void observe(const std::vector<int32_t>& tokens, const float* logits, int32_t vocab) override;
  void learn(int drafted_depth, int accepted) override;
  void sample_with(const SamplingParams& params) override;
  void expect_remaining(int64_t tokens) override { remaining_ = tokens; }

  /// Passes each candidate drafted for, and passes with no draft (kNoDraftChoice, last).
  std::vector<std::pair<std::string, int64_t>> choices() const;
  /// What drafted the latest pass: a candidate's name, or kNoDraftChoice for none.
  const std::string& latest_choice() const;

 private:
  struct Slot {
    AutoCandidate candidate;
    DraftLength depth;
    int64_t passes = 0;
    TokenTree shadow;      // drafted for the latest pass but not sent, to score against its output
    int trial_passes = 0;  // passes still to draft at full depth to measure it (RecentAcceptance)
    // Target steps this request lost by not drafting with it while it owed too much to
    // catch up (DraftContext::forgone), and what drafting with it, caught up, would have
    // cost per token in the latest pass (0: it did not owe too much then).
    double forgone = 0, caught_up_cost = 0;
    // Rows per level of the trees it drafts, lately (lookup and recycling draft several
    // branches): what a level it drafts adds to the pass.
    double rows_per_level = 1;
    void saw_tree(const TokenTree& tree);
    bool free() const { return candidate.draft_cost == 0 && candidate.catch_up_cost == 0; }
  };
  // Scores the shadow drafts of the latest pass against what it produced: the tokens of
  // `context` past shadow_base_.
  void score_shadows(const std::vector<int32_t>& context);
  void learn_for(Slot& slot, int drafted_depth, int accepted);
  // Scores `slot`'s model on the guesses it noted while catching up with `context`: as
  // the passes it would have drafted at full depth from each guess its previous pass would
  // have left off at.
  void replay_guesses(Slot& slot, const std::vector<int32_t>& context);
  // Times the pass that ended now (`start` of the next), if it ran alone and its drafter
  // had not caught up a long stretch of context first.
  void time_latest_pass(double start, bool alone);
  // Whether this pass alone should be plain, to time the step; `best_value` is what the
  // best draft is worth against a plain pass.
  bool time_step_now(double best_value);
  // What this pass is priced at, and for each drafter that owes too much to draft, what
  // drafting with it would cost per token had it caught up (`drafted_depth`: the chosen
  // drafter's depth). The next draft() counts the loss against the tokens the pass produced.
  void note_forgone(const std::vector<DraftContext>& weigh, int drafted_depth);
  std::vector<Slot> slots_;
  PassCost verify_;
  const std::atomic<int64_t>* pass_rows_;
  RecentAcceptance* recent_;
  PassTimes* times_;
  double pass_start_ = -1;       // when the latest pass's draft() began (-1: none yet)
  double pass_model_steps_ = 1;  // what the model priced it at
  bool pass_timeable_ = false;   // whether it may be timed (see time_latest_pass)
  int chosen_ = -1;              // the slot that drafted the latest pass (-1: none)
  int64_t own_rows_ = 1;         // rows this request put in the latest pass
  double pass_price_ = 0;        // the latest pass's expected tokens over their value: its cost in steps
  int64_t plain_passes_ = 0;
  int64_t remaining_ = int64_t(1) << 30;  // tokens the request may still produce
  size_t shadow_base_ = 0;                // context length when the shadows were drafted
};

}  // namespace tandem
