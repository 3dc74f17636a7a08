#include "runner/speculation_mode.h"

#include <algorithm>
#include <stdexcept>

namespace tandem {

const std::vector<std::string>& mode_names() {
  static const std::vector<std::string> names = {"ar", "chain", "tree", "pearl", "lookup", "recycle"};
  return names;
}

bool needs_draft_model(const std::string& mode) { return mode == "chain" || mode == "tree" || mode == "pearl"; }

void check_mode_settings(const ModeSettings& s) {
  const auto& names = mode_names();
  if (std::find(names.begin(), names.end(), s.mode) == names.end())
    throw std::invalid_argument("mode must be ar, chain, tree, pearl, lookup or recycle, got '" + s.mode + "'");
  if (s.draft_tokens < 1) throw std::invalid_argument("draft tokens must be at least 1");
  if (s.ngram < 1) throw std::invalid_argument("n-gram length must be at least 1");
  if (s.recycle_width < 1) throw std::invalid_argument("recycle width must be at least 1");
  if (s.tree.budget < 1 || s.tree.branching < 1 || s.tree.width < 1)
    throw std::invalid_argument("tree budget, branching and width must be at least 1");
  if (s.pearl.pre_verify < 0) throw std::invalid_argument("pre-verify must be >= 0");
}

GenerationResult generate_in_mode(const ModeSettings& s, Transformer& target, Transformer* draft,
                                  const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                                  SpeculationStats& stats, const std::function<void(int32_t)>& on_token) {
  check_mode_settings(s);
  if (needs_draft_model(s.mode) && !draft) throw std::invalid_argument("--mode " + s.mode + " needs a draft model");
  const Model* draft_model = draft ? &draft->model() : nullptr;
  if (s.mode == "ar") return generate_autoregressive(target, prompt_ids, options, on_token);
  if (s.mode == "pearl") {
    PearlOptions pearl = s.pearl;
    pearl.max_window = s.draft_tokens;
    return generate_pearl(target, *draft, prompt_ids, options, stats, on_token, pearl);
  }
  if (s.mode == "chain") {
    ChainDrafter drafter(*draft, s.draft_tokens, options.max_context);
    return generate_speculative(target, drafter, prompt_ids, options, stats, on_token,
                                speculation_defaults(target.model(), draft_model, s.draft_tokens, s.adaptive));
  }
  if (s.mode == "tree") {
    // Depth adapts like a chain's would; the budget caps the nodes per pass.
    // A level of the tree holds about budget / depth nodes, each verified, and each
    // level's expansion is a draft pass over `width` nodes.
    TreeDrafter drafter(*draft, s.tree, s.draft_tokens, options.max_context);
    SpeculationOptions o = speculation_defaults(target.model(), draft_model, s.draft_tokens, s.adaptive);
    o.verify_cost *= std::max(1.0, double(s.tree.budget) / s.draft_tokens);
    o.draft_cost *= double(s.tree.width);
    return generate_speculative(target, drafter, prompt_ids, options, stats, on_token, o);
  }
  if (s.mode == "lookup") {
    PromptLookupDrafter drafter(s.ngram, s.draft_tokens);
    return generate_speculative(target, drafter, prompt_ids, options, stats, on_token,
                                speculation_defaults(target.model(), nullptr, s.draft_tokens, s.adaptive));
  }
  RecyclingDrafter drafter(s.recycle_width, s.draft_tokens);
  return generate_speculative(target, drafter, prompt_ids, options, stats, on_token,
                              speculation_defaults(target.model(), nullptr, s.draft_tokens, s.adaptive));
}

}  // namespace tandem
