#include "spec/pearl_pipeline.h"

#include <algorithm>
#include <stdexcept>

namespace tandem {

PearlPipeline::PearlPipeline(const std::vector<int32_t>& prompt, int window, int max_window, double verify_cost)
    : context_(prompt),
      window_(std::clamp(window, 1, std::max(1, max_window))),
      max_window_(std::max(1, max_window)),
      depth_(max_window_, verify_cost, 0.0) {
  if (prompt.empty()) throw std::invalid_argument("PEARL needs a prompt");
}

std::vector<int32_t> PearlPipeline::drafter_context() const {
  std::vector<int32_t> all = context_;
  all.insert(all.end(), drafts_.begin(), drafts_.end());
  return all;
}

bool PearlPipeline::on_draft(uint64_t epoch, int32_t token) {
  if (epoch != epoch_) return false;  // drafted on a branch the target has since left
  drafts_.push_back(token);
  return true;
}

std::optional<VerifyRequest> PearlPipeline::next_verify() {
  if (verifying()) return std::nullopt;
  VerifyRequest request;
  // context_.back() is the pending token: decided, not yet in the verifier's cache.
  request.start = int64_t(context_.size()) - 1;
  request.pending = context_.back();
  int take = std::min<int>(window_, int(drafts_.size()));
  request.drafts.assign(drafts_.begin(), drafts_.begin() + take);
  in_flight_ = take;
  in_flight_pending_ = true;
  return request;
}

void PearlPipeline::on_verdict(const VerifyResult& result) {
  if (!verifying()) throw std::logic_error("a verdict arrived with no request in flight");
  if (result.accepted < 0 || result.accepted > in_flight_)
    throw std::invalid_argument("verdict accepts more than was sent");
  const int sent = in_flight_;
  in_flight_ = 0;
  in_flight_pending_ = false;

  // Accepted drafts and the bonus token are decided; the bonus becomes the new pending token.
  for (int i = 0; i < result.accepted; ++i) {
    context_.push_back(drafts_[size_t(i)]);
    output_.push_back(drafts_[size_t(i)]);
  }
  context_.push_back(result.bonus);
  output_.push_back(result.bonus);

  // Post-verify bet: drafts beyond the accepted ones stay valid only if everything sent
  // was accepted and the drafter's next token is the bonus the target chose.
  const size_t used = size_t(result.accepted);
  bool bet_holds = result.accepted == sent && drafts_.size() > used && drafts_[used] == result.bonus;
  if (bet_holds) {
    drafts_.erase(drafts_.begin(), drafts_.begin() + int64_t(used) + 1);  // +1: the bonus is now decided
  } else {
    drafts_.clear();
    ++epoch_;  // the drafter restarts from drafter_context(); its in-flight drafts are stale
  }

  // Adapt the window to the acceptance seen; the verifier always gets at least one draft to try.
  depth_.update(sent, result.accepted);
  window_ = std::clamp(depth_.next(), 1, max_window_);
}

}  // namespace tandem
