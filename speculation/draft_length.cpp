#include "speculation/draft_length.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace tandem {
namespace {
constexpr double kDecay = 0.9;  // weight of the past per pass: adapts within ~10 passes
}

DraftLength::DraftLength(int max_depth, PassCost verify, double draft_cost, int explore_every)
    : max_depth_(max_depth), verify_(std::move(verify)), draft_cost_(draft_cost), explore_every_(explore_every) {
  if (max_depth < 0 || verify_.steps(2) < 1.0 || draft_cost < 0 || explore_every < 1)
    throw std::invalid_argument("draft length settings must be non-negative (and explore_every positive)");
}

double DraftLength::expected_tokens(int depth) const {
  double a = acceptance(), tokens = 0.0, p = 1.0;
  for (int i = 0; i <= depth; ++i, p *= a) tokens += p;  // 1 + a + ... + a^depth
  return tokens;
}

double DraftLength::value(int depth, const DraftContext& context) const {
  const double tokens = expected_tokens(depth);
  const double per_level = context.rows_per_level > 0 ? context.rows_per_level : verify_.tokens_per_level();
  const double rows = context.rows_before + 1.0 + depth * per_level;
  const double catch_up = depth > 0 ? context.catch_up * tokens / std::max(1.0, context.remaining) : 0.0;
  const double plain = verify_.steps(context.rows_before + 1.0);
  const double extra = verify_.steps(rows) - plain + depth * draft_cost_;
  return (context.rows_before + tokens) / (plain + context.cost_scale * extra + catch_up);
}

int DraftLength::best_depth(const DraftContext& context) const {
  int best = 0;
  if (owes_too_much(context)) return best;
  for (int depth = 1; depth <= max_depth_; ++depth)
    if (value(depth, context) > value(best, context)) best = depth;
  return best;
}

int DraftLength::next(const DraftContext& context) {
  const int best = best_depth(context);
  if (best > 0 || max_depth_ == 0) {
    idle_passes_ = 0;
    return best;
  }
  // Not worth drafting now; try one token now and then to keep learning, unless the try
  // itself would cost a real share of what is left.
  if (++idle_passes_ >= explore_every_ && !owes_too_much(context)) {
    idle_passes_ = 0;
    return 1;
  }
  return 0;
}

bool DraftLength::owes_too_much(const DraftContext& context) {
  const double up_front = kMaxCatchUpShare * std::clamp(context.remaining, 1.0, kShortAnswer);
  return context.catch_up > std::max(up_front, context.forgone);
}

void DraftLength::start_from(double a) {
  a = std::clamp(a, 0.01, 0.99);
  rejected_ = 1.0;
  accepted_ = a / (1.0 - a);
}

void DraftLength::update(int drafted, int accepted) {
  if (drafted <= 0) return;
  accepted_ = accepted_ * kDecay + accepted;
  rejected_ = rejected_ * kDecay + (accepted < drafted ? 1 : 0);
}

}  // namespace tandem
