#pragma once
// What auto's passes have really cost on this machine lately, in seconds: the plain
// one-token pass (the decode step) and, for each drafter, its passes against what auto's
// cost model said they would cost. The model's numbers are fixed (PassCost, the weight-bytes
// ratio); this machine's memory changes speed within minutes, and a faster memory shortens
// the step more than a pass over several tokens or a drafted token
// (docs/reports/2026-12-06-auto-by-memory-regime.md). The measured ratio corrects the
// model's price of drafting, step by step as the machine changes. Each drafted pass is
// kept in steps, against the step as timed by then: a drafter not timed for a while keeps
// the ratio it was measured at, not its old seconds over a step that has since changed.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace tandem {

class PassTimes {
 public:
  using Clock = std::function<double()>;    // seconds, from any fixed origin
  static constexpr int kStepEvery = 16;     // passes alone after which a plain one times the step where it costs little
  static constexpr int kStepAtLatest = 64;  // and after which one does, whatever it costs
  static constexpr int kMinSamples = 4;     // before a ratio is used
  static constexpr int kForgetAfter = 256;  // passes alone without a drafter's timing, after which it is forgotten
  static constexpr double kWeight = 0.2;    // a drafted pass's weight in its moving average
  static constexpr double kStepWeight = 0.5;  // a step's (they come 16-64 passes apart)

  explicit PassTimes(Clock now = steady_seconds);

  double now() const { return now_(); }
  /// Names a drafter that may be timed, so that scales() lists it from the start.
  void add_drafter(const std::string& name);
  /// A plain pass of one row, alone in its batch, took `seconds`.
  void add_step(double seconds);
  /// A pass drafted by `name`, alone in its batch, that the cost model priced at
  /// `model_steps` decode steps (> 1), took `seconds`. Dropped before the step has
  /// kMinSamples timings: there is nothing yet to count it in.
  void add_pass(const std::string& name, double model_steps, double seconds);
  /// How much more drafting with `name` costs than the model says: the measured extra over
  /// a plain pass divided by the model's extra. 1 until both sides have kMinSamples, and
  /// again once `name` has not been timed for kForgetAfter passes: a drafter priced out
  /// then drafts at the model's price and is measured anew, so that neither a spell of slow
  /// passes nor a machine that has since changed keeps it out for good.
  double scale(const std::string& name) const;
  /// Called once per pass alone: the passes alone since the step was last timed
  /// (kStepAtLatest while it has fewer than kMinSamples timings).
  int64_t begin_pass_alone();
  /// The measured step in seconds (0 before any).
  double step_seconds() const;
  /// scale() of every drafter named or timed so far, for metrics and benchmarks' records.
  std::map<std::string, double> scales() const;

  static PassTimes& process();
  static double steady_seconds();

 private:
  struct Average {
    double value = 0;
    int samples = 0;
    void add(double x, double weight) { value = samples++ == 0 ? x : value + weight * (x - value); }
    /// add() for a time, counting one past kOutlier times the average as that much.
    void add_time(double seconds, double weight);
  };
  struct Drafted {
    Average steps, model_steps;  // measured (seconds over the step then) and modelled
    int64_t last_pass = 0;       // passes_ when it was last timed
  };
  double scale_locked(const std::string& name) const;
  Clock now_;
  mutable std::mutex mutex_;
  Average step_;
  int64_t passes_ = 0;  // passes alone so far
  int64_t passes_since_step_ = 0;
  std::map<std::string, Drafted> drafted_;
};

}  // namespace tandem
