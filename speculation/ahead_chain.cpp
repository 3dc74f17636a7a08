#include "speculation/ahead_chain.h"

namespace tandem {

bool AheadChain::move_to(size_t keep, std::span<const int32_t> added) {
  bool follows = keep == context_.size() && added.size() <= drafts_.size();
  for (size_t i = 0; follows && i < added.size(); ++i) follows = drafts_[i].node.token == added[i];
  context_.resize(std::min(keep, context_.size()));
  context_.insert(context_.end(), added.begin(), added.end());
  if (follows) {
    drafts_.erase(drafts_.begin(), drafts_.begin() + int64_t(added.size()));
  } else {
    drafts_.clear();
    ++epoch_;
  }
  return follows;
}

TokenTree AheadChain::chain(int max_depth) const {
  TokenTree tree;
  for (int32_t i = 0, parent = -1; i < max_depth && size_t(i) < drafts_.size(); ++i) {
    const AheadDraft& d = drafts_[size_t(i)];
    const int32_t node = tree.add(d.node.token, parent, d.node.draft_prob);
    if (d.alternative) tree.add(d.alternative->token, parent, d.alternative->draft_prob);
    if (!d.q.empty()) tree.set_proposal(parent, d.q);
    parent = node;
  }
  return tree;
}

std::vector<int32_t> AheadChain::drafting_context() const {
  std::vector<int32_t> context = context_;
  for (const AheadDraft& d : drafts_) context.push_back(d.node.token);
  return context;
}

}  // namespace tandem
