#include "speculation/measured_costs.h"

namespace tandem {
namespace {
constexpr double kWeight = 0.1;  // of each new sample: follows a drift within ~10-20 samples
}

void MeasuredCosts::Average::add(double x) {
  value = samples == 0 ? x : value + kWeight * (x - value);
  ++samples;
}

void MeasuredCosts::pass_took(double seconds, int64_t rows) {
  if (rows < 1 || rows > kMaxPassRows || !(seconds > 0)) return;
  std::lock_guard lock(mutex_);
  step_.add(seconds / pass_.steps(double(rows)));
}

void MeasuredCosts::draft_took(const std::string& name, double seconds, int levels, int64_t unseen) {
  if (levels < 1 || unseen > kMaxUnseenTokens || !(seconds > 0)) return;
  std::lock_guard lock(mutex_);
  level_[name].add(seconds / levels);
}

double MeasuredCosts::draft_cost(const std::string& name, double estimate) const {
  std::lock_guard lock(mutex_);
  auto it = level_.find(name);
  if (step_.samples < kMinSamples || it == level_.end() || it->second.samples < kMinSamples) return estimate;
  return it->second.value / step_.value;
}

double MeasuredCosts::step_seconds() const {
  std::lock_guard lock(mutex_);
  return step_.samples < kMinSamples ? 0.0 : step_.value;
}

MeasuredCosts& MeasuredCosts::process() {
  static MeasuredCosts costs;
  return costs;
}

}  // namespace tandem
