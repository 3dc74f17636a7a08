#include "speculation/stop_matcher.h"

#include <algorithm>
#include <stdexcept>

namespace tandem {

void check_stop_sequences(const std::vector<std::string>& stops) {
  if (stops.size() > kMaxStopSequences)
    throw std::invalid_argument("at most " + std::to_string(kMaxStopSequences) + " stop sequences are allowed");
  for (const std::string& s : stops)
    if (s.empty() || s.size() > kMaxStopBytes)
      throw std::invalid_argument("each stop sequence must have 1 to " + std::to_string(kMaxStopBytes) + " bytes");
}

StopMatcher::Released StopMatcher::release(size_t end) {
  Released out;
  out.text = held_.substr(0, end);
  held_.erase(0, end);
  size_t kept = 0;
  for (const auto& [id, start] : held_ids_) {
    if (start < end)
      out.ids.push_back(id);
    else
      held_ids_[kept++] = {id, start - end};
  }
  held_ids_.resize(kept);
  return out;
}

StopMatcher::Released StopMatcher::push(int32_t id, const std::string& text) {
  if (stopped_) return {};
  held_ids_.push_back({id, held_.size()});
  held_ += text;
  if (stops_.empty()) return flush();

  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    Released out = release(first);
    held_.clear();
    held_ids_.clear();
    return out;
  }
  // Keep the longest end of the text that is the beginning of some stop sequence.
  size_t keep = 0;
  for (const std::string& s : stops_)
    for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
  return release(held_.size() - keep);
}

StopMatcher::Released StopMatcher::flush(const std::string& tail) {
  if (stopped_) return {};
  held_ += tail;
  Released out;
  out.text = std::move(held_);
  for (auto& held : held_ids_) out.ids.push_back(held.first);
  held_.clear();
  held_ids_.clear();
  return out;
}

}  // namespace tandem
