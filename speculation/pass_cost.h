#pragma once
// What a verifier pass over k tokens costs, in single-token decode steps: the
// curve the adaptive draft depth weighs drafts against.
#include <utility>
#include <vector>

namespace tandem {

/// A cost curve through measured points, linear between them and past the last one.
class PassCost {
 public:
  /// 1 + (k - 1) * per_token: each extra token adds the same.
  static PassCost linear(double per_token);
  /// The curve tandem_bench measures for the default (int8) matmul path (docs/reports/2026-11-30-against-llama-cpp.md).
  static PassCost measured();

  /// Through (tokens, steps) points, tokens ascending from 1 with steps 1.
  explicit PassCost(std::vector<std::pair<double, double>> points);

  /// Steps a pass over `tokens` (>= 1) costs.
  double steps(double tokens) const;
  /// The same curve for passes that hold `factor` tokens per drafted level (a tree of
  /// budget B over depth D holds about B / D nodes a level).
  PassCost per_level(double factor) const;
  /// Tokens per drafted level (1 for a chain).
  double tokens_per_level() const { return per_level_; }

 private:
  std::vector<std::pair<double, double>> points_;
  double per_level_ = 1.0;
};

}  // namespace tandem
