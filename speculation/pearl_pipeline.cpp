#include "speculation/pearl_pipeline.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace tandem {

PearlPipeline::PearlPipeline(const std::vector<int32_t>& prompt, int window, int max_window, PassCost verify_cost)
    : context_(prompt),
      window_(std::clamp(window, 1, std::max(1, max_window))),
      max_window_(std::max(1, max_window)),
      depth_(max_window_, std::move(verify_cost), 0.0) {
  if (prompt.empty()) throw std::invalid_argument("PEARL needs a prompt");
}

std::vector<int32_t> PearlPipeline::drafter_context() const {
  std::vector<int32_t> all = context_;
  all.insert(all.end(), drafts_.begin(), drafts_.end());
  return all;
}

bool PearlPipeline::on_draft(uint64_t epoch, int32_t token, int32_t alternative, Proposal q) {
  if (epoch != epoch_) return false;  // drafted on a branch the target has since left
  drafts_.push_back(token);
  alternatives_.push_back(alternative);
  proposals_.push_back(std::move(q));
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
  request.alternatives.assign(alternatives_.begin(), alternatives_.begin() + take);
  request.proposals.assign(proposals_.begin(), proposals_.begin() + take);
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

  const bool took_alternative = result.alternative >= 0;
  if (took_alternative && result.accepted >= sent)
    throw std::invalid_argument("verdict takes an alternative past the drafts");

  // Accepted drafts (and the alternative taken) and the bonus token are decided; the
  // bonus becomes the new pending token.
  std::vector<int32_t> decided(drafts_.begin(), drafts_.begin() + result.accepted);
  if (took_alternative) decided.push_back(result.alternative);
  decided.push_back(result.bonus);
  context_.insert(context_.end(), decided.begin(), decided.end());
  output_.insert(output_.end(), decided.begin(), decided.end());

  // Post-verify bet: drafts beyond the accepted ones stay valid only if everything sent
  // was accepted and the drafter's next token is the bonus the target chose.
  const size_t used = size_t(result.accepted);
  bool bet_holds =
      !took_alternative && result.accepted == sent && drafts_.size() > used && drafts_[used] == result.bonus;
  if (bet_holds) {
    // +1: the bonus is now decided.
    drafts_.erase(drafts_.begin(), drafts_.begin() + int64_t(used) + 1);
    alternatives_.erase(alternatives_.begin(), alternatives_.begin() + int64_t(used) + 1);
    proposals_.erase(proposals_.begin(), proposals_.begin() + int64_t(used) + 1);
  } else {
    drafts_.clear();
    alternatives_.clear();
    proposals_.clear();
    ++epoch_;  // the drafter restarts from drafter_context(); its in-flight drafts are stale
  }

  // Adapt the window to the acceptance seen; the verifier always gets at least one draft to try.
  depth_.update(sent, result.accepted + (took_alternative ? 1 : 0));
  window_ = std::clamp(depth_.next(), 1, max_window_);
}

PearlTree::PearlTree(const VerifyRequest& request) {
  if (request.alternatives.size() != request.drafts.size() ||
      (!request.proposals.empty() && request.proposals.size() != request.drafts.size()))
    throw std::invalid_argument("a verify request needs one alternative and proposal slot per draft");
  int32_t parent = -1;
  for (size_t i = 0; i < request.drafts.size(); ++i) {
    const int32_t draft = tree_.add(request.drafts[i], parent, 1.0f);
    is_alternative_.push_back(false);
    if (request.alternatives[i] >= 0) {
      tree_.add(request.alternatives[i], parent, 1.0f);
      is_alternative_.push_back(true);
    }
    if (!request.proposals.empty() && !request.proposals[i].empty()) tree_.set_proposal(parent, request.proposals[i]);
    parent = draft;
  }
}

VerifyResult PearlTree::result(const std::vector<int32_t>& accepted, int32_t bonus) const {
  VerifyResult r{0, bonus, -1};
  for (int32_t node : accepted) {
    if (is_alternative_[size_t(node)]) {
      r.alternative = tree_[node].token;  // an alternative has no children: the path ends here
      break;
    }
    ++r.accepted;
  }
  return r;
}

}  // namespace tandem
