#include "speculation/draft_length.h"

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

double DraftLength::value(int depth) const {
  double a = acceptance(), tokens = 0.0, p = 1.0;
  for (int i = 0; i <= depth; ++i, p *= a) tokens += p;  // 1 + a + ... + a^depth
  return tokens / (verify_.steps(1.0 + depth * verify_.tokens_per_level()) + depth * draft_cost_);
}

int DraftLength::next() {
  int best = 0;
  for (int depth = 1; depth <= max_depth_; ++depth)
    if (value(depth) > value(best)) best = depth;
  if (best > 0 || max_depth_ == 0) {
    idle_passes_ = 0;
    return best;
  }
  // Not worth drafting now; try one token now and then to keep learning.
  if (++idle_passes_ >= explore_every_) {
    idle_passes_ = 0;
    return 1;
  }
  return 0;
}

void DraftLength::update(int drafted, int accepted) {
  if (drafted <= 0) return;
  accepted_ = accepted_ * kDecay + accepted;
  rejected_ = rejected_ * kDecay + (accepted < drafted ? 1 : 0);
}

}  // namespace tandem
