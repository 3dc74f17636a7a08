#pragma once
// What target passes and costly drafts really take on this machine, learned as they run.
// Auto weighs a draft model's levels by this ratio instead of the two models' weight bytes,
// which miss a small model's fixed costs per step (its attention, norms, thread hand-offs
// and output head weigh more, for its size, than a large model's).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "speculation/pass_cost.h"

namespace tandem {

class MeasuredCosts {
 public:
  /// Passes over more rows than this say too little about one step (the pass-cost curve
  /// that scales them is steep there), and a draft that first catches up more unseen tokens
  /// than this says too little about one level.
  static constexpr int64_t kMaxPassRows = 16;
  static constexpr int64_t kMaxUnseenTokens = 4;
  /// Samples each side needs before its measurement replaces the estimate.
  static constexpr int kMinSamples = 4;

  /// `pass` converts a pass's rows into decode steps (PassCost::measured() for the process).
  explicit MeasuredCosts(PassCost pass = PassCost::measured()) : pass_(std::move(pass)) {}

  /// A target forward pass over `rows` tokens took `seconds`.
  void pass_took(double seconds, int64_t rows);
  /// Drafter `name` drafted `levels` levels in `seconds`, having first caught up `unseen` tokens.
  void draft_took(const std::string& name, double seconds, int levels, int64_t unseen);
  /// `name`'s cost per drafted level in target decode steps, or `estimate` until both it and
  /// the target's step have been measured kMinSamples times.
  double draft_cost(const std::string& name, double estimate) const;
  /// The target's decode step in seconds (0 until measured kMinSamples times).
  double step_seconds() const;

  /// This process's.
  static MeasuredCosts& process();

 private:
  // An exponential moving average that starts at its first sample.
  struct Average {
    double value = 0;
    int samples = 0;
    void add(double x);
  };
  PassCost pass_;
  mutable std::mutex mutex_;
  Average step_;
  std::map<std::string, Average> level_;
};

}  // namespace tandem
