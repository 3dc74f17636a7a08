#include "speculation/pass_times.h"

#include <algorithm>
#include <chrono>

namespace tandem {
namespace {
// A pass that took more than this many times the average was most likely held up by
// something else (the OS, another process): it counts as this many times the average, so
// that one such pass moves the average little and a lasting change still moves it.
constexpr double kOutlier = 3.0;
// Bounds on a scale: past them a ratio says more about noise than about the machine.
constexpr double kLeastScale = 0.1, kMostScale = 20.0;
// The model's extra over a plain pass, below which a ratio would be mostly noise.
constexpr double kMinExtra = 0.02;
}  // namespace

PassTimes::PassTimes(Clock now) : now_(std::move(now)) {}

double PassTimes::steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void PassTimes::Average::add_time(double seconds, double weight) {
  add(samples > 0 ? std::min(seconds, kOutlier * value) : seconds, weight);
}

void PassTimes::add_step(double seconds) {
  std::lock_guard lock(mutex_);
  passes_since_step_ = 0;
  if (seconds <= 0) return;
  step_.add_time(seconds, kStepWeight);
}

void PassTimes::add_drafter(const std::string& name) {
  std::lock_guard lock(mutex_);
  drafted_.try_emplace(name);
}

void PassTimes::add_pass(const std::string& name, double model_steps, double seconds) {
  std::lock_guard lock(mutex_);
  Drafted& d = drafted_[name];
  if (passes_ - d.last_pass > kForgetAfter) d = Drafted();
  d.last_pass = passes_;
  if (seconds <= 0 || step_.samples < kMinSamples) return;
  d.steps.add_time(seconds / step_.value, kWeight);
  d.model_steps.add(model_steps, kWeight);
}

double PassTimes::scale(const std::string& name) const {
  std::lock_guard lock(mutex_);
  return scale_locked(name);
}

std::map<std::string, double> PassTimes::scales() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, double> out;
  for (const auto& [name, drafted] : drafted_) out[name] = scale_locked(name);
  return out;
}

double PassTimes::scale_locked(const std::string& name) const {
  auto it = drafted_.find(name);
  if (it == drafted_.end() || it->second.steps.samples < kMinSamples || passes_ - it->second.last_pass > kForgetAfter)
    return 1.0;
  const double model_extra = it->second.model_steps.value - 1.0;
  if (model_extra < kMinExtra) return 1.0;
  const double measured_extra = it->second.steps.value - 1.0;
  return std::clamp(measured_extra / model_extra, kLeastScale, kMostScale);
}

int64_t PassTimes::begin_pass_alone() {
  std::lock_guard lock(mutex_);
  ++passes_;
  const int64_t since = passes_since_step_++;
  return step_.samples < kMinSamples ? std::max<int64_t>(since, kStepAtLatest) : since;
}

double PassTimes::step_seconds() const {
  std::lock_guard lock(mutex_);
  return step_.value;
}

PassTimes& PassTimes::process() {
  static PassTimes times;
  return times;
}

}  // namespace tandem
