#include "speculation/mode.h"

#include <algorithm>
#include <stdexcept>

#include "speculation/auto_drafter.h"

namespace tandem {

const std::vector<Mode>& all_modes() {
  static const std::vector<Mode> modes = {Mode::ar,     Mode::chain,   Mode::tree,     Mode::pearl,
                                          Mode::lookup, Mode::recycle, Mode::automatic};
  return modes;
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::ar: return "ar";
    case Mode::chain: return "chain";
    case Mode::tree: return "tree";
    case Mode::pearl: return "pearl";
    case Mode::lookup: return "lookup";
    case Mode::recycle: return "recycle";
    case Mode::automatic: return "auto";
  }
  return "?";
}

Mode parse_mode(const std::string& name) {
  for (Mode mode : all_modes())
    if (name == mode_name(mode)) return mode;
  throw std::invalid_argument("mode must be ar, chain, tree, pearl, lookup, recycle or auto, got '" + name + "'");
}

bool needs_draft_model(Mode mode) { return mode == Mode::chain || mode == Mode::tree || mode == Mode::pearl; }

void check_mode_settings(const ModeSettings& s) {
  if (s.draft_tokens < 1) throw std::invalid_argument("draft tokens must be at least 1");
  if (s.ngram < 1) throw std::invalid_argument("n-gram length must be at least 1");
  if (s.lookup_depth < 1) throw std::invalid_argument("lookup depth must be at least 1");
  if (s.recycle_width < 1) throw std::invalid_argument("recycle width must be at least 1");
  if (s.tree.budget < 1 || s.tree.branching < 1 || s.tree.width < 1)
    throw std::invalid_argument("tree budget, branching and width must be at least 1");
  if (s.pearl.pre_verify < 0) throw std::invalid_argument("pre-verify must be >= 0");
}

namespace {

// Auto's drafters: the two that cost nothing to draft, then the draft model's chain when
// there is one, which tries a token less often while it does not pay (each try costs a
// draft step and catching its cache up with the context).
std::unique_ptr<Drafter> make_auto_drafter(const ModeSettings& s, Transformer* draft, int64_t max_context,
                                           const AutoInputs& inputs) {
  if (!inputs.target) throw std::invalid_argument("mode auto needs the target model to weigh its drafters");
  if (inputs.sampled) return nullptr;
  std::vector<AutoCandidate> candidates;
  candidates.push_back({"lookup", std::make_unique<PromptLookupDrafter>(s.ngram, s.lookup_depth), s.lookup_depth});
  candidates.push_back(
      {"recycle", std::make_unique<RecyclingDrafter>(s.recycle_width, s.draft_tokens), s.draft_tokens});
  if (draft) {
    const double cost = speculation_defaults(*inputs.target, draft, s.draft_tokens, true).draft_cost;
    // Running context it has not seen costs the draft model what a prefill costs per token
    // (the curve's slope from 16 to 128 tokens), scaled by the models' weight bytes. A
    // classifier cut to fewer tokens (FR-Spec) makes drafted tokens cheaper, not the
    // catching up (which runs the classifier for one token), so this takes the whole model's.
    const PassCost curve = PassCost::measured();
    const double whole_model =
        double(draft->model().weights().bytes_per_token()) / double(inputs.target->weights().bytes_per_token());
    const double per_token = whole_model * (curve.steps(128) - curve.steps(16)) / 112;
    candidates.push_back({"chain", std::make_unique<ChainDrafter>(*draft, s.draft_tokens, max_context), s.draft_tokens,
                          cost, 32, per_token});
  }
  return std::make_unique<AutoDrafter>(std::move(candidates), PassCost::measured(), inputs.pass_rows,
                                       &RecentAcceptance::process(), s.auto_timed ? &PassTimes::process() : nullptr);
}

}  // namespace

std::unique_ptr<Drafter> make_drafter(const ModeSettings& s, Transformer* draft, int64_t max_context,
                                      const AutoInputs& auto_inputs) {
  if (s.mode == Mode::automatic) return make_auto_drafter(s, draft, max_context, auto_inputs);
  if (needs_draft_model(s.mode) && !draft)
    throw std::invalid_argument(std::string("--mode ") + mode_name(s.mode) + " needs a draft model");
  if (s.mode == Mode::chain) return std::make_unique<ChainDrafter>(*draft, s.draft_tokens, max_context);
  if (s.mode == Mode::tree) return std::make_unique<TreeDrafter>(*draft, s.tree, s.draft_tokens, max_context);
  if (s.mode == Mode::lookup) return std::make_unique<PromptLookupDrafter>(s.ngram, s.lookup_depth);
  if (s.mode == Mode::recycle) return std::make_unique<RecyclingDrafter>(s.recycle_width, s.draft_tokens);
  return nullptr;
}

SpeculationOptions mode_speculation(const ModeSettings& s, const Model& target, const Transformer* draft) {
  // PEARL drafts beside the verifier: its drafts cost the verifier nothing.
  const bool uses_model = s.mode == Mode::chain || s.mode == Mode::tree;
  const int max_depth = s.mode == Mode::lookup      ? s.lookup_depth
                        : s.mode == Mode::automatic ? std::max(s.lookup_depth, s.draft_tokens)
                                                    : s.draft_tokens;
  // Auto chooses each pass's depth itself, per drafter.
  const bool adaptive = s.adaptive && s.mode != Mode::automatic;
  SpeculationOptions o = speculation_defaults(target, uses_model ? draft : nullptr, max_depth, adaptive);
  o.draft_aware = s.draft_aware;
  if (s.mode == Mode::tree) {
    // A level of the tree holds about budget / depth nodes, each verified, and each
    // level's expansion is a draft pass over `width` nodes.
    o.verify_cost = o.verify_cost.per_level(std::max(1.0, double(s.tree.budget) / s.draft_tokens));
    o.draft_cost *= double(s.tree.width);
  }
  return o;
}

GenerationResult generate_in_mode(const ModeSettings& s, Transformer& target, Transformer* draft,
                                  const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                                  SpeculationStats& stats, const std::function<void(int32_t)>& on_token) {
  check_mode_settings(s);
  if (needs_draft_model(s.mode) && !draft)
    throw std::invalid_argument(std::string("--mode ") + mode_name(s.mode) + " needs a draft model");
  if (s.mode == Mode::ar) return generate_autoregressive(target, prompt_ids, options, on_token);
  if (s.mode == Mode::pearl) {
    PearlOptions pearl = s.pearl;
    pearl.max_window = s.draft_tokens;
    return generate_pearl(target, *draft, prompt_ids, options, stats, on_token, pearl);
  }
  std::unique_ptr<Drafter> drafter =
      make_drafter(s, draft, options.max_context, {&target.model(), nullptr, options.sampling.temperature > 0});
  if (!drafter) {  // nothing to draft with (auto for a sampled request): every pass plain
    GenerationResult result = generate_autoregressive(target, prompt_ids, options, on_token);
    if (s.mode == Mode::automatic)
      stats.auto_passes = {{kNoDraftChoice, std::max<int64_t>(0, int64_t(result.ids.size()) - 1)}};
    return result;
  }
  GenerationResult result = generate_speculative(target, *drafter, prompt_ids, options, stats, on_token,
                                                 mode_speculation(s, target.model(), draft));
  if (const auto* chooser = dynamic_cast<const AutoDrafter*>(drafter.get())) stats.auto_passes = chooser->choices();
  return result;
}

}  // namespace tandem
