#pragma once
// PEARL inside the continuous batch: one thread, with the draft model on the drafter's
// share of the cores, drafts ahead for every PEARL request while the batch's target
// forward runs. A request's pass takes the drafts its chain holds when the pass is
// built. It waits for its first drafts (PEARL's pre-verify) only while the batch holds
// nothing but PEARL requests, so a PEARL request never holds up another kind.
//
//   worker:          add_pass ─ draft(): take the chain so far, set how far ahead to go ─▶ forward ─▶ finish_pass ─┐
//                       ▲                                                                                          │
//                       └──────────────────────────────────────────────────────────────────────────────────────────┘
//   drafting thread: round robin over requests short of drafts ─▶ one draft token ─▶ append (unless the chain started
//   over)
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "speculation/drafter.h"

namespace tandem {

/// The drafting thread shared by a batch's PEARL requests.
class AheadDrafting {
 public:
  /// Drafts with `draft` (only this thread runs it), each request's cache up to `max_context`
  /// positions; while waiting is allowed, a pass waits for `pre_verify` drafts.
  AheadDrafting(Transformer& draft, int64_t max_context, int pre_verify = 1);
  ~AheadDrafting();
  AheadDrafting(const AheadDrafting&) = delete;
  AheadDrafting& operator=(const AheadDrafting&) = delete;

  /// A Drafter for one request, drafting on this thread; it must not outlive this object.
  /// Its draft() hands over the chain drafted ahead for the context it is given (a chain
  /// tree of at most max_depth drafts, maybe empty) and asks for one more level than that
  /// plus max_depth past it: the target's bonus token and the next pass's drafts.
  std::unique_ptr<Drafter> drafter();
  /// Whether draft() may wait for the first drafts of a chain that is starting over (set
  /// before each pass: only when no request of another kind shares it).
  void allow_waiting(bool allow) { allow_waiting_ = allow; }
  /// Lets the thread draft, or holds it (from its next draft on) while the verifier needs
  /// every core; held, it drafts nothing and passes take what is already there.
  void set_drafting(bool on);
  /// Seconds the thread has spent drafting.
  double busy_seconds() const { return busy_seconds_; }

 private:
  struct Slot;
  class SlotDrafter;
  void loop();
  // The next request short of drafts, round robin (mutex_ held); null when none.
  std::shared_ptr<Slot> next_short();

  Transformer& draft_;
  int64_t max_context_;
  std::mutex mutex_;
  std::condition_variable work_;      // a request moved on or left, or stopping
  std::condition_variable appended_;  // a draft was appended, or a chain can go no further
  int pre_verify_;
  std::atomic<bool> allow_waiting_{false};
  std::vector<std::shared_ptr<Slot>> slots_;
  size_t turn_ = 0;
  bool drafting_ = true;
  bool stopping_ = false;
  std::atomic<double> busy_seconds_{0};
  std::thread thread_;
};

}  // namespace tandem
