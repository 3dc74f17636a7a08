#pragma once
// Which waiting request joins the batch next: the worker's admission decision, as plain
// bookkeeping over client groups and batch slots (no threads, no model), so that fairness is
// tested on its own (tests/unit/admission_test.cpp).
//
//   fair order: the client group with the fewest batch slots running, then the one admitted
//   longest ago, then arrival. A request for n samples needs n free slots: until it fits,
//   requests that do fit go ahead of it, at most max_batch times; then it waits first in line.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tandem {

/// A request waiting for the batch, as admission sees it.
struct WaitingRequest {
  std::string group;    // its client group (client_group)
  int samples = 1;      // batch slots it needs
  int passed_over = 0;  // requests started ahead of it because it did not fit
};

/// What admission decided.
struct AdmitChoice {
  std::optional<size_t> start;        // the waiting request to start now; none: start nothing yet
  std::optional<size_t> passed_over;  // the fairest request, passed over because it did not fit
};

/// The admission decision and what it remembers between decisions.
class Admission {
 public:
  /// For a batch of `max_batch` slots.
  explicit Admission(int max_batch) : max_batch_(max_batch) {}

  /// The next request to start from `waiting` (in arrival order), with `running` batch slots
  /// per client group and `used` slots in all.
  AdmitChoice choose(const std::vector<WaitingRequest>& waiting, const std::map<std::string, int>& running,
                     int used) const;
  /// Records that a request of `group` started.
  void started(const std::string& group);

 private:
  // The fairest waiting request of at most `room` samples.
  std::optional<size_t> fairest(const std::vector<WaitingRequest>& waiting, const std::map<std::string, int>& running,
                                int room) const;

  int max_batch_;
  std::map<std::string, uint64_t> last_started_;  // group -> admission count when it last started one
  uint64_t admissions_ = 0;
};

}  // namespace tandem
