#include "server/admission.h"

#include <climits>
#include <utility>

namespace tandem {

AdmitChoice Admission::choose(const std::vector<WaitingRequest>& waiting, const std::map<std::string, int>& running,
                              int used) const {
  const std::optional<size_t> next = fairest(waiting, running, INT_MAX);
  if (!next) return {};
  const int room = max_batch_ - used;
  if (used == 0 || waiting[*next].samples <= room) return {next, std::nullopt};
  if (waiting[*next].passed_over >= max_batch_) return {};  // its turn: wait until it fits
  const std::optional<size_t> fitting = fairest(waiting, running, room);
  if (!fitting) return {};
  return {fitting, next};
}

void Admission::started(const std::string& group) {
  if (last_started_.size() > 4096) last_started_.clear();  // forget old clients now and then
  last_started_[group] = ++admissions_;
}

std::optional<size_t> Admission::fairest(const std::vector<WaitingRequest>& waiting,
                                         const std::map<std::string, int>& running, int room) const {
  std::optional<size_t> best;
  std::pair<int, uint64_t> best_rank{INT_MAX, UINT64_MAX};
  for (size_t i = 0; i < waiting.size(); ++i) {
    if (waiting[i].samples > room) continue;
    const auto slots = running.find(waiting[i].group);
    const auto last = last_started_.find(waiting[i].group);
    const std::pair<int, uint64_t> rank{slots == running.end() ? 0 : slots->second,
                                        last == last_started_.end() ? 0 : last->second};
    if (rank < best_rank) best = i, best_rank = rank;  // strict: ties keep arrival order
  }
  return best;
}

}  // namespace tandem
