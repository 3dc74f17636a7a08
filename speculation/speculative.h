#pragma once
// Speculative generation in one thread: draft a tree, verify it with one target
// forward pass, keep the longest branch the target agrees with plus its own next
// token (greedy), or runs lossless speculative sampling over the tree.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "speculation/drafter.h"
#include "speculation/generation.h"
#include "speculation/pass_cost.h"

namespace tandem {

/// How speculation went for one request.
struct SpeculationStats {
  int64_t passes = 0;    // target forward passes after the prompt
  int64_t drafted = 0;   // draft tokens proposed
  int64_t accepted = 0;  // draft tokens the target kept
  double draft_seconds = 0.0, verify_seconds = 0.0;
  double drafter_idle_seconds = 0.0, verifier_idle_seconds = 0.0;  // PEARL: time each side waited for the other
  std::vector<std::pair<std::string, int64_t>> auto_passes;  // mode auto: passes by what drafted them ("ar": none)
  /// Tokens produced per target pass (accepted drafts plus the target's own token).
  double tokens_per_pass() const { return passes ? double(accepted + passes) / double(passes) : 0.0; }
  /// Share of drafted tokens that were accepted.
  double acceptance_rate() const { return drafted ? double(accepted) / double(drafted) : 0.0; }
};

/// How deep to draft.
struct SpeculationOptions {
  int max_depth = 8;                            // never deeper than this (drafters also keep their own limits)
  bool adaptive = false;                        // choose each pass's depth with DraftLength
  PassCost verify_cost = PassCost::measured();  // adaptive: a verifier pass over k tokens, in decode steps
  double draft_cost = 0.0;                      // adaptive: drafting work per drafted level, in target decode steps
  // A sampled request's model drafter draws from its own distribution q, which the verifier
  // accepts by p/q. False: it proposes its greedy tokens as point masses (accepted with
  // probability p), the rule before draft-aware sampling, kept to measure the difference.
  bool draft_aware = true;
};

/// Speculation settings for a drafter on a target: adaptive depth with the verify cost
/// measured by tandem_bench on this CPU and, for a draft model, its cost taken as the
/// ratio of weight bytes each model reads per token (a draft model with a cut classifier reads
/// less; `draft` null: free drafting).
SpeculationOptions speculation_defaults(const Model& target, const Transformer* draft, int max_depth, bool adaptive);

/// Generates after `prompt_ids` with `drafter` proposing and `target` verifying: greedily
/// (temperature 0, output identical to generate_autoregressive) or by lossless speculative
/// sampling (output distributed as the target's, though not the same sample as plain sampling).
GenerationResult generate_speculative(Transformer& target, Drafter& drafter, const std::vector<int32_t>& prompt_ids,
                                      const GenerationOptions& options, SpeculationStats& stats,
                                      const std::function<void(int32_t)>& on_token = {},
                                      const SpeculationOptions& speculation = {});

}  // namespace tandem
