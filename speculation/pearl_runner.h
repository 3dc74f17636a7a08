#pragma once
// PEARL in one process: the drafter and the verifier each on their own thread (and
// their own cores), overlapping. The threads only drive speculation/PearlPipeline, which
// decides what is drafted and verified; this file adds the waiting and the math.
//
//   drafter thread:  wait for room ─▶ sync draft cache ─▶ argmax ─▶ on_draft ─┐
//                         ▲                                                   │
//                         └───────────── pipeline (mutex + condition) ◀───────┘
//                         ┌─────────────────────────────────────────────────▶─┐
//   verifier thread: wait for pre-verify drafts ─▶ next_verify ─▶ forward ─▶ on_verdict
#include <functional>
#include <vector>

#include "speculation/speculative.h"

namespace tandem {

/// PEARL knobs.
struct PearlOptions {
  int max_window = 5;         // most drafts per verifier pass; the pipeline adapts between 1 and this
  int pre_verify = 1;         // drafts the verifier waits for before a pass (0: never wait, verify what is there)
  bool tree = false;          // tree drafting: a draft the drafter is unsure of gets its runner-up as a sibling
  float branch_below = 0.8f;  // tree: add the runner-up when the draft's probability is below this
  std::vector<int> drafter_cpus, verifier_cpus;  // pin each side's threads to these cores (empty: no pinning)
};

/// How PEARL shares the cores between its two sides.
struct ThreadSplit {
  int drafter = 1, verifier = 1;                 // threads for each side
  std::vector<int> drafter_cpus, verifier_cpus;  // cores to pin them to (empty: too few cores to pin)
};

/// Splits `threads` (<= 0: one per core) between drafter and verifier: `drafter_threads`
/// for the drafter (<= 0: a quarter, at least 1), the rest (at least 1) for the verifier.
/// When the machine has a core for each thread, the verifier gets the first cores and
/// the drafter the next ones.
ThreadSplit split_threads(int threads, int drafter_threads);

/// Generates after `prompt_ids` with `draft` drafting greedy chains (or, with
/// PearlOptions::tree, chains with runner-up siblings where it is unsure) on one thread and
/// `target` verifying on the calling thread, at the same time. Greedy output is identical
/// to generate_autoregressive; with sampling it follows the target's distribution. If the
/// drafter fails, the verifier finishes alone (still lossless). `stats` gets the usual
/// speculation figures plus the time each side sat idle waiting for the other.
GenerationResult generate_pearl(Transformer& target, Transformer& draft, const std::vector<int32_t>& prompt_ids,
                                const GenerationOptions& options, SpeculationStats& stats,
                                const std::function<void(int32_t)>& on_token = {}, const PearlOptions& pearl = {});

}  // namespace tandem
