#pragma once
// PEARL in one process: the drafter on a thread of its own (and its own cores), drafting
// ahead with the one drafting-ahead engine (speculation/ahead_drafting), while the
// verifier runs the usual speculative loop on the calling thread, taking each pass
// whatever the chain holds by then (and waiting for its first `pre_verify` drafts).
//
//   drafting thread: chain short of drafts ─▶ one more token ─▶ appended ─┐
//                          ▲                                               │
//                          └──────── the verifier's context moves on ◀─────┤
//   verifier thread: draft(): take the chain ─▶ target forward ─▶ verdict ─┘
#include <functional>
#include <vector>

#include "speculation/ahead_drafting.h"
#include "speculation/speculative.h"

namespace tandem {

/// PEARL knobs.
struct PearlOptions {
  int max_window = 5;         // most drafts per verifier pass; the depth adapts between 1 and this
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

/// How the drafting thread drafts for these PEARL settings: pre-verify, runner-ups when
/// drafting trees, pinned to the drafter's cores.
AheadDraftingOptions pearl_drafting_options(const PearlOptions& pearl);

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
