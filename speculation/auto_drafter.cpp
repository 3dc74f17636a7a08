#include "speculation/auto_drafter.h"

#include <algorithm>
#include <span>
#include <stdexcept>

namespace tandem {

RecentAcceptance::RecentAcceptance(const RecentAcceptance& other) {
  std::lock_guard lock(other.mutex_);
  estimates_ = other.estimates_;
}

RecentAcceptance& RecentAcceptance::operator=(const RecentAcceptance& other) {
  if (this == &other) return *this;
  std::scoped_lock lock(mutex_, other.mutex_);
  estimates_ = other.estimates_;
  return *this;
}

double RecentAcceptance::of(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = estimates_.find(name);
  return it == estimates_.end() ? 0.5 : it->second.acceptance.acceptance();
}

void RecentAcceptance::add(const std::string& name, int drafted, int accepted) {
  if (drafted <= 0) return;
  std::lock_guard lock(mutex_);
  Estimate& e = estimates_[name];
  e.acceptance.update(drafted, accepted);
  e.requests_since = 0;
}

bool RecentAcceptance::due_for_trial(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = estimates_.try_emplace(name);
  if (!fresh && ++it->second.requests_since <= kRemeasureAfter) return false;
  it->second.requests_since = 0;  // this request measures it; the next ones need not
  return true;
}

RecentAcceptance& RecentAcceptance::process() {
  static RecentAcceptance recent;
  return recent;
}

AutoDrafter::AutoDrafter(std::vector<AutoCandidate> candidates, PassCost verify, const std::atomic<int64_t>* pass_rows,
                         RecentAcceptance* recent, PassTimes* times)
    : verify_(verify), pass_rows_(pass_rows), recent_(recent), times_(times) {
  for (auto& c : candidates) {
    if (!c.drafter) throw std::invalid_argument("auto: a candidate without a drafter");
    DraftLength depth(c.max_depth, verify, c.draft_cost, c.explore_every);
    if (recent_) depth.start_from(recent_->of(c.name));
    if (times_) times_->add_drafter(c.name);
    const bool costly = c.draft_cost > 0 || c.catch_up_cost > 0;
    const int trial = costly && recent_ && recent_->due_for_trial(c.name) ? kTrialPasses : 0;
    slots_.push_back({std::move(c), std::move(depth), 0, TokenTree(), trial});
  }
}

namespace {

// How far the output followed `tree`: the depth of its longest path from the root whose
// tokens are the first tokens of `produced`.
int followed_depth(const TokenTree& tree, std::span<const int32_t> produced) {
  int depth = 0;
  for (int32_t parent = -1; depth < int(produced.size());) {
    int32_t next = -1;
    for (int32_t child : tree.children(parent))
      if (tree[child].token == produced[size_t(depth)]) next = child;
    if (next < 0) break;
    parent = next;
    ++depth;
  }
  return depth;
}

}  // namespace

void AutoDrafter::score_shadows(const std::vector<int32_t>& context) {
  if (context.size() <= shadow_base_) return;
  const std::span<const int32_t> produced(context.data() + shadow_base_, context.size() - shadow_base_);
  for (Slot& slot : slots_) {
    if (slot.shadow.empty()) continue;
    // Past what the pass produced, the output is not known yet: score only that far.
    learn_for(slot, std::min(slot.shadow.depth(), int32_t(produced.size())), followed_depth(slot.shadow, produced));
    slot.shadow = TokenTree();
  }
}

void AutoDrafter::time_latest_pass(double start, bool alone) {
  if (!times_ || pass_start_ < 0 || !pass_timeable_ || !alone) return;
  if (chosen_ < 0)
    times_->add_step(start - pass_start_);
  else
    times_->add_pass(slots_[size_t(chosen_)].candidate.name, pass_model_steps_, start - pass_start_);
}

bool AutoDrafter::time_step_now(double best_value) {
  if (!times_) return false;
  const int64_t since = times_->begin_pass_alone();
  return since >= PassTimes::kStepAtLatest || (since >= PassTimes::kStepEvery && best_value <= kCheapPlainPass);
}

TokenTree AutoDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  const double start = times_ ? times_->now() : 0.0;
  const double produced = context.size() > shadow_base_ ? double(context.size() - shadow_base_) : 0.0;
  // What not drafting with each drafter that owed too much lost in the latest pass: what it
  // cost against what those tokens would have cost with the drafter caught up. A pass that
  // did better than that (a long copy by prompt lookup) wins some of the loss back.
  for (Slot& slot : slots_)
    if (slot.caught_up_cost > 0)
      slot.forgone = std::max(0.0, slot.forgone + pass_price_ - produced * slot.caught_up_cost);
  score_shadows(context);
  // Model drafters guess at output that other passes produce: not at the prompt, nor at
  // what their own passes produced (scored by learn()).
  for (size_t i = 0; i < slots_.size(); ++i)
    if (pass_start_ < 0 || chosen_ == int(i)) slots_[i].candidate.drafter->guess_from(int64_t(context.size()));
  // What other requests put in the pass, judged by the latest one.
  const double rows_before = pass_rows_ ? double(std::max<int64_t>(0, pass_rows_->load() - own_rows_)) : 0.0;
  time_latest_pass(start, rows_before == 0);
  std::vector<DraftContext> weigh;
  std::vector<int64_t> unseen;
  std::vector<int> best;  // each candidate's depth that pays most now (0: none pays)
  for (const Slot& slot : slots_) {
    unseen.push_back(slot.candidate.drafter->unseen_tokens(context));
    weigh.push_back({rows_before, slot.candidate.catch_up_cost * double(unseen.back()), double(remaining_),
                     times_ ? times_->scale(slot.candidate.name) : 1.0, slot.forgone, slot.rows_per_level});
    best.push_back(slot.depth.best_depth(weigh.back()));
  }
  TokenTree tree;
  chosen_ = -1;
  auto try_slot = [&](size_t i, int depth) {
    depth = std::min(depth, max_depth);
    if (depth <= 0 || !tree.empty()) return;
    tree = slots_[i].candidate.drafter->draft(context, depth);
    slots_[i].saw_tree(tree);
    if (!tree.empty()) chosen_ = int(i);
  };
  // The candidates that pay now, best first.
  std::vector<std::pair<double, size_t>> paying;
  for (size_t i = 0; i < slots_.size(); ++i)
    if (best[i] > 0) paying.emplace_back(slots_[i].depth.value(best[i], weigh[i]), i);
  std::stable_sort(paying.begin(), paying.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  // A plain pass alone, now and then, times the step the others are priced against.
  const bool measure_step = rows_before == 0 && time_step_now(paying.empty() ? 1.0 : paying.front().first);
  if (!measure_step) {
    // A drafter with a cost this request measures drafts at full depth, unless it owes
    // too much to catch up first.
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].trial_passes > 0 && !DraftLength::owes_too_much(weigh[i])) {
        --slots_[i].trial_passes;
        try_slot(i, slots_[i].candidate.max_depth);
      }
    // A drafter with a cost whose one-token try is due takes this pass (DraftLength::next
    // says when: never while catching up would cost a real share of what is left).
    for (size_t i = 0; i < slots_.size(); ++i)
      if (!slots_[i].free() && best[i] == 0) try_slot(i, slots_[i].depth.next(weigh[i]));
    // Else the candidates that pay, best first; one with nothing to offer this time (prompt
    // lookup without a matching n-gram) leaves the pass to the next.
    for (const auto& [value, i] : paying) try_slot(i, slots_[i].depth.next(weigh[i]));
  }
  for (Slot& slot : slots_) replay_guesses(slot, context);
  // The free drafters not sent draft in shadow, as deep as they may.
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].free() && int(i) != chosen_) {
      slots_[i].shadow =
          slots_[i].candidate.drafter->draft(context, std::min(slots_[i].candidate.max_depth, max_depth));
      slots_[i].saw_tree(slots_[i].shadow);
    }
  shadow_base_ = context.size();
  note_forgone(weigh, tree.depth());
  if (chosen_ < 0)
    ++plain_passes_;
  else
    ++slots_[size_t(chosen_)].passes;
  own_rows_ = 1 + tree.size();
  pass_start_ = start;
  pass_model_steps_ = 1.0;
  pass_timeable_ = true;
  if (chosen_ >= 0) {
    const AutoCandidate& c = slots_[size_t(chosen_)].candidate;
    pass_model_steps_ = verify_.steps(double(own_rows_)) + tree.depth() * c.draft_cost;
    // Catching up more than a pass's worth of context is priced apart (catch_up_cost).
    pass_timeable_ = unseen[size_t(chosen_)] <= c.max_depth + 1;
  }
  return tree;
}

void AutoDrafter::Slot::saw_tree(const TokenTree& tree) {
  if (tree.empty()) return;
  rows_per_level = 0.8 * rows_per_level + 0.2 * double(tree.size()) / double(tree.depth());
}

void AutoDrafter::note_forgone(const std::vector<DraftContext>& weigh, int drafted_depth) {
  if (slots_.empty()) return;
  // What this pass (the chosen draft, or a plain pass) costs in target steps.
  const size_t taken = chosen_ >= 0 ? size_t(chosen_) : 0;
  const int depth = chosen_ >= 0 ? drafted_depth : 0;
  pass_price_ = slots_[taken].depth.expected_tokens(depth) / slots_[taken].depth.value(depth, weigh[taken]);
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    slot.caught_up_cost = 0;
    if (int(i) == chosen_ || !DraftLength::owes_too_much(weigh[i])) continue;
    DraftContext caught_up = weigh[i];
    caught_up.catch_up = 0;
    slot.caught_up_cost = 1.0 / slot.depth.value(slot.depth.best_depth(caught_up), caught_up);
  }
}

void AutoDrafter::replay_guesses(Slot& slot, const std::vector<int32_t>& context) {
  const std::vector<Guess> guesses = slot.candidate.drafter->take_guesses();
  const int depth = slot.candidate.max_depth;
  for (size_t i = 0; i < guesses.size();) {
    // A pass starting at guesses[i]: it drafts while the guesses run on, up to its depth,
    // and the target's own token follows the first wrong one.
    const int64_t start = guesses[i].position;
    int offered = 0, followed = 0;
    for (; offered < depth && i < guesses.size() && guesses[i].position == start + offered; ++i) {
      ++offered;
      if (guesses[i].token != context[size_t(guesses[i].position)]) break;
      ++followed;
    }
    learn_for(slot, offered, followed);
    // The next pass starts past the target's own token.
    while (i < guesses.size() && guesses[i].position <= start + followed) ++i;
  }
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

const std::string& AutoDrafter::latest_choice() const {
  return chosen_ < 0 ? kNoDraftChoice : slots_[size_t(chosen_)].candidate.name;
}

std::vector<std::pair<std::string, int64_t>> AutoDrafter::choices() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& slot : slots_) out.emplace_back(slot.candidate.name, slot.passes);
  out.emplace_back(kNoDraftChoice, plain_passes_);
  return out;
}

}  // namespace tandem
