#include "speculation/auto_drafter.h"

#include <algorithm>
#include <span>
#include <stdexcept>

namespace tandem {

double RecentAcceptance::of(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = estimates_.find(name);
  return it == estimates_.end() ? 0.5 : it->second.acceptance();
}

void RecentAcceptance::add(const std::string& name, int drafted, int accepted) {
  std::lock_guard lock(mutex_);
  estimates_.try_emplace(name, 0, PassCost::linear(0.0), 0.0).first->second.update(drafted, accepted);
}

RecentAcceptance& RecentAcceptance::process() {
  static RecentAcceptance recent;
  return recent;
}

AutoDrafter::AutoDrafter(std::vector<AutoCandidate> candidates, PassCost verify, const std::atomic<int64_t>* pass_rows,
                         RecentAcceptance* recent)
    : pass_rows_(pass_rows), recent_(recent) {
  for (auto& c : candidates) {
    if (!c.drafter) throw std::invalid_argument("auto: a candidate without a drafter");
    DraftLength depth(c.max_depth, verify, c.draft_cost, c.explore_every);
    if (recent_) depth.start_from(recent_->of(c.name));
    slots_.push_back({std::move(c), std::move(depth), 0, TokenTree()});
  }
}

void AutoDrafter::score_shadows(const std::vector<int32_t>& context) {
  if (context.size() <= shadow_base_) return;
  const std::span<const int32_t> produced(context.data() + shadow_base_, context.size() - shadow_base_);
  for (Slot& slot : slots_) {
    if (slot.shadow.empty()) continue;
    // The deepest path of the tree that the output followed.
    int matched = 0;
    for (int32_t node : slot.shadow.children(-1)) {
      int depth = 0;
      for (int32_t at = node;
           at >= 0 && depth < int(produced.size()) && slot.shadow[at].token == produced[size_t(depth)];) {
        ++depth;
        const auto next = slot.shadow.children(at);
        at = -1;
        for (int32_t child : next)
          if (depth < int(produced.size()) && slot.shadow[child].token == produced[size_t(depth)]) at = child;
      }
      matched = std::max(matched, depth);
    }
    // Past what the pass produced, the output is not known yet: score only that far.
    learn_for(slot, std::min(slot.shadow.depth(), int32_t(produced.size())), matched);
    slot.shadow = TokenTree();
  }
}

TokenTree AutoDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  score_shadows(context);
  // What other requests put in the pass, judged by the latest one.
  const double rows_before = pass_rows_ ? double(std::max<int64_t>(0, pass_rows_->load() - own_rows_)) : 0.0;
  std::vector<DraftContext> weigh;
  for (const Slot& slot : slots_)
    weigh.push_back({rows_before, slot.candidate.catch_up_cost * double(slot.candidate.drafter->unseen_tokens(context)),
                     double(remaining_)});
  TokenTree tree;
  chosen_ = -1;
  auto try_slot = [&](size_t i, int depth) {
    depth = std::min(depth, max_depth);
    if (depth <= 0 || !tree.empty()) return;
    tree = slots_[i].candidate.drafter->draft(context, depth);
    if (!tree.empty()) chosen_ = int(i);
  };
  // A drafter with a cost whose one-token try is due takes this pass (DraftLength::next
  // says when: never while catching up would cost a real share of what is left).
  for (size_t i = 0; i < slots_.size(); ++i)
    if (!slots_[i].free() && slots_[i].depth.best_depth(weigh[i]) == 0) try_slot(i, slots_[i].depth.next(weigh[i]));
  // Else the candidates that pay now, best first; one with nothing to offer this time
  // (prompt lookup without a matching n-gram) leaves the pass to the next.
  std::vector<std::pair<double, size_t>> paying;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const int d = slots_[i].depth.best_depth(weigh[i]);
    if (d > 0) paying.emplace_back(slots_[i].depth.value(d, weigh[i]), i);
  }
  std::stable_sort(paying.begin(), paying.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [value, i] : paying) try_slot(i, slots_[i].depth.next(weigh[i]));
  // The free drafters not sent draft in shadow, as deep as they may.
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].free() && int(i) != chosen_)
      slots_[i].shadow =
          slots_[i].candidate.drafter->draft(context, std::min(slots_[i].candidate.max_depth, max_depth));
  shadow_base_ = context.size();
  if (chosen_ < 0)
    ++plain_passes_;
  else
    ++slots_[size_t(chosen_)].passes;
  own_rows_ = 1 + tree.size();
  return tree;
}

void AutoDrafter::observe(const std::vector<int32_t>& tokens, const float* logits, int32_t vocab) {
  for (auto& slot : slots_) slot.candidate.drafter->observe(tokens, logits, vocab);
}

void AutoDrafter::learn(int drafted_depth, int accepted) {
  if (chosen_ >= 0) learn_for(slots_[size_t(chosen_)], drafted_depth, accepted);
}

void AutoDrafter::learn_for(Slot& slot, int drafted_depth, int accepted) {
  slot.depth.update(drafted_depth, accepted);
  if (recent_) recent_->add(slot.candidate.name, drafted_depth, accepted);
}

void AutoDrafter::sample_with(const SamplingParams& params) {
  Drafter::sample_with(params);
  for (auto& slot : slots_) slot.candidate.drafter->sample_with(params);
}

std::vector<std::pair<std::string, int64_t>> AutoDrafter::choices() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& slot : slots_) out.emplace_back(slot.candidate.name, slot.passes);
  out.emplace_back("ar", plain_passes_);
  return out;
}

}  // namespace tandem
