#pragma once
// The drafting-ahead engine (speculation/ahead_engine) on a thread of its own, beside the
// verifier: generate_pearl's drafter for one request, and the continuous batch's for all
// its PEARL requests. A request's pass takes the drafts its chain holds when the pass is
// built. It may wait for its first drafts (PEARL's pre-verify) only while waiting is
// allowed: always for generate_pearl, and in the batch only while it holds nothing but
// PEARL requests, so a PEARL request never holds up another kind.
//
//   verifier:        draft(): move the chain to the context, take what it holds, ask for more ─▶ forward ─┐
//                       ▲                                                                                   │
//                       └───────────────────────────────────────────────────────────────────────────────────┘
//   drafting thread: every lane short of drafts ─▶ one token each, one forward pass ─▶ appended (unless the
//   chain started over)
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "speculation/ahead_engine.h"
#include "speculation/drafter.h"

namespace tandem {

/// How an AheadDrafting thread drafts.
struct AheadDraftingOptions {
  int pre_verify = 1;         // drafts a pass waits for, while waiting is allowed (0: never wait)
  float branch_below = 0.0f;  // a draft less likely than this gets its runner-up as a sibling (0: chains)
  std::vector<int> cpus;      // pin the thread and the draft model's pool to these cores (empty: no pinning)
};

/// A drafting thread shared by requests.
class AheadDrafting {
 public:
  /// Drafts with `draft` (only this thread runs it), each request's cache up to `max_context` positions.
  AheadDrafting(Transformer& draft, int64_t max_context, AheadDraftingOptions options = {});
  ~AheadDrafting();
  AheadDrafting(const AheadDrafting&) = delete;
  AheadDrafting& operator=(const AheadDrafting&) = delete;

  /// A Drafter for one request, drafting on this thread; it must not outlive this object.
  /// Its draft() hands over the chain drafted ahead for the context it is given (a chain
  /// tree of at most max_depth drafts, maybe empty) and asks for one more level than that
  /// plus max_depth past it: the target's bonus token and the next pass's drafts. Its
  /// prepare() starts drafting for a context without taking anything (the drafter's
  /// prefill then overlaps the verifier's).
  std::unique_ptr<Drafter> drafter();
  /// Whether draft() may wait for the first drafts of a chain that is starting over.
  void allow_waiting(bool allow) { allow_waiting_ = allow; }
  /// Lets the thread draft, or holds it (from its next round on) while the verifier needs
  /// every core; held, it drafts nothing and passes take what is already there.
  void set_drafting(bool on);
  /// Seconds the thread has spent drafting.
  double busy_seconds() const { return busy_seconds_; }
  /// Seconds draft() calls have spent waiting for drafts.
  double waited_seconds() const { return waited_seconds_; }

 private:
  class LaneDrafter;
  void loop();

  AheadEngine engine_;
  AheadDraftingOptions options_;
  std::mutex mutex_;
  std::condition_variable work_;      // a request moved on or left, or stopping
  std::condition_variable appended_;  // a round was applied
  std::atomic<bool> allow_waiting_{false};
  std::vector<std::shared_ptr<AheadLane>> lanes_;  // guarded by mutex_, as is every lane's chain
  bool drafting_ = true;
  bool stopping_ = false;
  std::atomic<double> busy_seconds_{0}, waited_seconds_{0};
  std::thread thread_;
};

}  // namespace tandem
