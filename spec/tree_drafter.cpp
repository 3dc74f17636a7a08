#include "spec/tree_drafter.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tandem {

std::vector<int32_t> top_k(const float* logits, int32_t n, int k) {
  std::vector<int32_t> best;
  best.reserve(size_t(k) + 1);
  for (int32_t id = 0; id < n; ++id) {
    if (int(best.size()) == k && logits[id] <= logits[best.back()]) continue;
    auto at =
        std::upper_bound(best.begin(), best.end(), id, [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    best.insert(at, id);
    if (int(best.size()) > k) best.pop_back();
  }
  return best;
}

TreeDrafter::TreeDrafter(Transformer& draft_model, TreeShape shape, int max_depth, int64_t max_context)
    : cache_(draft_model, max_context), shape_(shape), max_depth_(max_depth) {}

void TreeDrafter::add_children(const float* logits, int32_t parent) {
  const int32_t vocab = cache_.vocab();
  const float top = *std::max_element(logits, logits + vocab);
  double total = 0.0;
  for (int32_t i = 0; i < vocab; ++i) total += std::exp(double(logits[i]) - double(top));
  const double parent_score = parent < 0 ? 1.0 : candidates_[size_t(parent)].score;
  const int32_t depth = parent < 0 ? 1 : candidates_[size_t(parent)].depth + 1;
  for (int32_t token : top_k(logits, vocab, shape_.branching)) {
    double p = std::exp(double(logits[token]) - double(top)) / total;
    candidates_.push_back({token, parent, depth, float(p), parent_score * p, -1});
  }
}

std::vector<int32_t> TreeDrafter::expand(const std::vector<int32_t>& level, int64_t first_pos) {
  // Only nodes that could still make the final budget are worth expanding: a child
  // never scores above its parent, so one below the budget-th best score is hopeless.
  std::vector<double> scores;
  for (const Candidate& c : candidates_) scores.push_back(c.score);
  double cutoff = 0.0;
  if (int(scores.size()) >= shape_.budget) {
    std::nth_element(scores.begin(), scores.begin() + shape_.budget - 1, scores.end(), std::greater<>());
    cutoff = scores[size_t(shape_.budget - 1)];
  }
  std::vector<int32_t> chosen = level;
  std::stable_sort(chosen.begin(), chosen.end(),
                   [&](int32_t a, int32_t b) { return candidates_[size_t(a)].score > candidates_[size_t(b)].score; });
  if (int(chosen.size()) > shape_.width) chosen.resize(size_t(shape_.width));
  std::erase_if(chosen, [&](int32_t i) { return candidates_[size_t(i)].score <= cutoff; });
  if (chosen.empty()) return {};

  KvCache& cache = cache_.cache();
  std::vector<BatchToken> batch;
  for (int32_t i : chosen) {
    const Candidate& c = candidates_[size_t(i)];
    int64_t parent_row = c.parent < 0 ? -1 : candidates_[size_t(c.parent)].row;
    batch.push_back({c.token, 0, first_pos + c.depth - 1, -1, true, parent_row});
  }
  // The first level starts the pending rows afresh; deeper levels append to them.
  const int64_t first_row = candidates_[size_t(chosen[0])].depth == 1 ? 0 : cache.pending();
  KvCache* caches[] = {&cache};
  auto logits = cache_.model().forward(batch, caches);
  std::vector<int32_t> next;
  for (size_t j = 0; j < chosen.size(); ++j) {
    candidates_[size_t(chosen[j])].row = first_row + int64_t(j);
    const size_t before = candidates_.size();
    add_children(logits.data() + j * size_t(cache_.vocab()), chosen[j]);
    for (size_t k = before; k < candidates_.size(); ++k) next.push_back(int32_t(k));
  }
  return next;
}

void TreeDrafter::reuse_accepted_rows(const std::vector<int32_t>& context) {
  const std::vector<int32_t>& drafted_on = cache_.cached();
  if (candidates_.empty() || context.size() <= drafted_on.size() ||
      !std::equal(drafted_on.begin(), drafted_on.end(), context.begin()))
    return;
  std::vector<int64_t> rows;
  std::vector<int32_t> tokens;
  int32_t parent = -1;
  for (size_t pos = drafted_on.size(); pos < context.size(); ++pos) {
    auto same = [&](const Candidate& c) { return c.parent == parent && c.token == context[pos] && c.row >= 0; };
    auto it = std::find_if(candidates_.begin(), candidates_.end(), same);
    if (it == candidates_.end()) break;
    rows.push_back(it->row);
    tokens.push_back(it->token);
    parent = int32_t(it - candidates_.begin());
  }
  if (!rows.empty()) cache_.commit_pending(rows, tokens);
}

TokenTree TreeDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  TokenTree tree;
  const int64_t room = cache_.cache().max_positions() - int64_t(context.size());
  const int depth = int(std::min<int64_t>(std::min(max_depth_, max_depth), room));
  if (!context.empty()) reuse_accepted_rows(context);
  candidates_.clear();
  if (context.empty() || depth <= 0 || shape_.budget <= 0) return tree;
  add_children(cache_.sync(context).data(), -1);
  std::vector<int32_t> level(candidates_.size());
  std::iota(level.begin(), level.end(), 0);
  for (int d = 1; d < depth && !level.empty(); ++d) level = expand(level, int64_t(context.size()));

  // The budget best scores; a stable sort keeps each parent ahead of a child that ties it.
  std::vector<int32_t> order(candidates_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return candidates_[size_t(a)].score > candidates_[size_t(b)].score; });
  std::vector<bool> keep(candidates_.size(), false);
  for (size_t i = 0; i < order.size() && int(i) < shape_.budget; ++i) keep[size_t(order[i])] = true;
  // Candidates are numbered parents first, so one pass in index order builds the tree.
  std::vector<int32_t> node_of(candidates_.size(), -1);
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const Candidate& c = candidates_[i];
    if (!keep[i] || (c.parent >= 0 && node_of[size_t(c.parent)] < 0)) continue;
    node_of[i] = tree.add(c.token, c.parent < 0 ? -1 : node_of[size_t(c.parent)], c.prob);
  }
  return tree;
}

}  // namespace tandem
