#include "speculation/pass_cost.h"

#include <stdexcept>

namespace tandem {

PassCost PassCost::linear(double per_token) { return PassCost({{1.0, 1.0}, {2.0, 1.0 + per_token}}); }

// tandem_bench's "forward of k tokens / forward of 1" for Qwen2.5-Coder-1.5B Q4_K_M on
// the int8 path, 2 threads, on the project's 2-core machine (docs/reports/2026-11-30-against-llama-cpp.md),
// and a 128-token prefill against a decode step on the same machine (202 against 18.9
// tokens/s, docs/reports/2026-12-05-auto-serving-peak.md): where a large batch lands.
PassCost PassCost::measured() { return PassCost({{1, 1.0}, {2, 1.05}, {4, 1.2}, {8, 1.47}, {16, 2.7}, {128, 11.9}}); }

PassCost::PassCost(std::vector<std::pair<double, double>> points) : points_(std::move(points)) {
  if (points_.size() < 2 || points_[0].first != 1.0)
    throw std::invalid_argument("a pass cost curve needs two or more points, starting at one token");
  for (size_t i = 1; i < points_.size(); ++i)
    if (points_[i].first <= points_[i - 1].first || points_[i].second < points_[i - 1].second)
      throw std::invalid_argument("pass cost points must grow in tokens and never fall in cost");
}

double PassCost::steps(double tokens) const {
  size_t i = 1;
  while (i + 1 < points_.size() && tokens > points_[i].first) ++i;
  const auto [x0, y0] = points_[i - 1];
  const auto [x1, y1] = points_[i];
  return y0 + (tokens - x0) * (y1 - y0) / (x1 - x0);
}

PassCost PassCost::per_level(double factor) const {
  PassCost scaled = *this;
  scaled.per_level_ = factor;
  return scaled;
}

}  // namespace tandem
