#pragma once
// One place that turns a mode name and its knobs into a generation call, shared by
// `tandem generate` and the benchmarks.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "speculation/pearl_runner.h"
#include "speculation/speculative.h"
#include "speculation/tree_drafter.h"

namespace tandem {

/// How a request is generated: plainly (ar), with one of the speculation modes, or
/// `automatic` ("auto"): each pass the drafter and depth that pay most, or none
/// (speculation/auto_drafter.h).
enum class Mode { ar, chain, tree, pearl, lookup, recycle, automatic };

/// Every mode, in the order the help lists them.
const std::vector<Mode>& all_modes();
/// The mode's name in flags, requests, replies and metrics: "ar", "chain", ...
const char* mode_name(Mode mode);
/// The mode called `name`; throws std::invalid_argument naming the choices for any other name.
Mode parse_mode(const std::string& name);
/// Whether `mode` needs a draft model (chain, tree, pearl).
bool needs_draft_model(Mode mode);

/// A generation mode and its knobs.
struct ModeSettings {
  Mode mode = Mode::ar;
  int draft_tokens = 5;     // most drafted tokens per pass (tree: depth; recycle: per branch; pearl: window)
  bool adaptive = true;     // chain, lookup, recycle: choose each pass's depth from acceptance and cost
  int ngram = 3;            // lookup: longest n-gram matched
  int lookup_depth = 16;    // lookup: most drafted tokens per pass (its drafts cost nothing to make)
  int recycle_width = 2;    // recycle: first-level candidates
  TreeShape tree;           // tree: budget, branching, width
  PearlOptions pearl;       // pearl: window (set from draft_tokens), pre-verify, pinning
  bool draft_aware = true;  // chain, tree: sampled drafts checked by p/q (false: greedy point masses)
  bool auto_timed = true;   // auto: prices corrected by its timed passes (PassTimes; false: the model's alone)
};

/// Throws std::invalid_argument naming the problem if `settings` cannot run.
void check_mode_settings(const ModeSettings& settings);

/// What auto weighs its drafters with: the target (a draft model's cost is its weights'
/// bytes against the target's) and, in a server, the rows of the batch's latest pass.
/// A sampled request under auto decodes plainly: which drafts it would see depends on the
/// batch and on what the process saw before, and a seed must give the same output every time.
struct AutoInputs {
  const Model* target = nullptr;
  const std::atomic<int64_t>* pass_rows = nullptr;
  bool sampled = false;
};

/// The drafter of a mode drafting between passes (chain, tree, lookup, recycle, auto; null
/// for ar), drafting with `draft` where the mode needs a model (auto: uses it if given).
/// PEARL drafts beside the passes: on generate_pearl's own thread, or in a server on the
/// batch's drafting thread (speculation/ahead_drafting).
std::unique_ptr<Drafter> make_drafter(const ModeSettings& settings, Transformer* draft, int64_t max_context,
                                      const AutoInputs& auto_inputs = {});
/// Depth and cost settings for the mode's speculation on `target`.
SpeculationOptions mode_speculation(const ModeSettings& settings, const Model& target, const Transformer* draft);

/// Generates one request in settings.mode. `draft` must be given for the draft-model modes.
GenerationResult generate_in_mode(const ModeSettings& settings, Transformer& target, Transformer* draft,
                                  const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                                  SpeculationStats& stats, const std::function<void(int32_t)>& on_token = {});

}  // namespace tandem
