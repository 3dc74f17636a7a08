#pragma once
// The one drafting-ahead engine (PEARL's post-verify): a draft model keeps each request's
// chain reaching past what the verifier is checking, one token per round, every request
// short of drafts in the same forward pass. Three drivers share it:
//   - speculation/ahead_drafting: a thread beside the verifier, for generate_pearl and for
//     the continuous batch's PEARL requests (the in-process channel);
//   - runner/remote_drafter's DrafterService: between polls of its network channel.
// The engine itself never waits and never locks: a threaded driver plans and applies a
// round under its own lock and drafts it without (only the drafting side touches a lane's
// draft cache).
//
//   plan (lock held): lanes short of drafts ─▶ their contexts and epochs
//   draft (no lock):  one forward pass for all ─▶ a token each (and maybe a runner-up)
//   apply (lock held): appended to each chain, unless it started over meanwhile
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/sampler.h"
#include "speculation/ahead_chain.h"
#include "speculation/draft_model_cache.h"

namespace tandem {

/// One request's drafting ahead. The driver moves the chain to the verifier's contexts
/// and says how far ahead to draft; the engine fills it.
struct AheadLane {
  AheadChain chain;
  size_t wanted = 0;  // drafts to hold past the verifier's context
  SamplingParams sampling;
  float branch_below = 0.0f;  // a draft less likely than this gets its runner-up as a sibling (0: never)
  bool done = false;          // can draft no further (its context is full, or the draft model failed)

 private:
  friend class AheadEngine;
  std::unique_ptr<DraftModelCache> cache;  // drafting side only; made at the first draft
  int64_t draws = 0;                       // of the drafter's random stream (drafter_uniform)
};

/// Drafts one more token for every lane short of drafts, together.
class AheadEngine {
 public:
  /// The drafts of one round, from plan() to apply().
  struct Round {
    struct Job {
      std::shared_ptr<AheadLane> lane;  // kept alive even if its request ends meanwhile
      std::vector<int32_t> context;     // the lane's drafting context when planned
      uint64_t epoch = 0;
      SamplingParams sampling;
      float branch_below = 0.0f;
      AheadDraft drafted;
      bool failed = false;
    };
    std::vector<Job> jobs;
    bool empty() const { return jobs.empty(); }
  };

  /// Drafts with `draft` (only the drafting side runs it), each lane's cache up to `max_context`.
  AheadEngine(Transformer& draft, int64_t max_context) : draft_(draft), max_context_(max_context) {}

  /// The lanes among `lanes` with a context, not done and short of drafts.
  static Round plan(std::span<const std::shared_ptr<AheadLane>> lanes);
  /// Drafts a token for each job, in one forward pass; a job that cannot is marked failed.
  void draft(Round& round);
  /// Appends each drafted token to its lane, unless the lane's chain started over since
  /// plan(); marks the lanes that failed done.
  static void apply(Round& round);
  /// plan(), draft() and apply() for a single-threaded driver. Returns whether it drafted.
  bool step(std::span<const std::shared_ptr<AheadLane>> lanes);
  /// Steps the given lanes until each holds `wanted` drafts or is done (a driver that must
  /// answer now).
  void fill(std::span<const std::shared_ptr<AheadLane>> lanes);

 private:
  // The draft (and runner-up) after `logits` for a job.
  void choose(Round::Job& job, const float* logits);

  Transformer& draft_;
  int64_t max_context_;
};

}  // namespace tandem
