#include "speculation/tree_drafter.h"

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

std::vector<std::pair<int32_t, double>> perturbed_children(const Proposal& q, double parent_log_score, int k,
                                                           const std::function<double()>& uniform) {
  std::vector<std::pair<int32_t, double>> keyed;  // (token, log q + Gumbel noise)
  double top = -INFINITY;
  for (const auto& [token, p] : q) {
    if (p <= 0.0f) continue;
    const double u = std::max(uniform(), 1e-300);
    keyed.push_back({token, std::log(double(p)) - std::log(-std::log(u))});
    top = std::max(top, keyed.back().second);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (int(keyed.size()) > k) keyed.resize(size_t(k));
  // Conditioned on the parent's key as their maximum: T - log(1 + e^(T-G) - e^(T-Z)).
  for (auto& [token, g] : keyed)
    g = parent_log_score - std::log1p(std::exp(parent_log_score - g) - std::exp(parent_log_score - top));
  return keyed;
}

TreeDrafter::TreeDrafter(Transformer& draft_model, TreeShape shape, int max_depth, int64_t max_context)
    : cache_(draft_model, max_context), shape_(shape), max_depth_(max_depth) {}

void TreeDrafter::add_children(const float* logits, int32_t parent) {
  const int32_t vocab = cache_.vocab();
  const double parent_score = parent < 0 ? 1.0 : candidates_[size_t(parent)].score;
  const int32_t depth = parent < 0 ? 1 : candidates_[size_t(parent)].depth + 1;
  if (sampling()) {
    Proposal q = draft_proposal(logits, vocab, sampling_);
    for (const auto& [token, log_score] :
         perturbed_children(q, std::log(parent_score), shape_.branching, [this] { return next_uniform(); }))
      candidates_.push_back({token, parent, depth, proposal_probability(q, token), std::exp(log_score), -1});
    proposals_[parent] = std::move(q);
    return;
  }
  const float top = *std::max_element(logits, logits + vocab);
  double total = 0.0;
  for (int32_t i = 0; i < vocab; ++i) total += std::exp(double(logits[i]) - double(top));
  for (int32_t token : top_k(logits, vocab, shape_.branching)) {
    double p = std::exp(double(logits[token]) - double(top)) / total;
    candidates_.push_back({token, parent, depth, float(p), parent_score * p, -1});
  }
}

std::vector<int32_t> TreeDrafter::choose(const std::vector<int32_t>& level) const {
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
  return chosen;
}

int64_t TreeDrafter::append_expansion(const std::vector<int32_t>& chosen, int64_t first_pos, int32_t seq,
                                      std::vector<BatchToken>& batch) {
  for (int32_t i : chosen) {
    const Candidate& c = candidates_[size_t(i)];
    int64_t parent_row = c.parent < 0 ? -1 : candidates_[size_t(c.parent)].row;
    batch.push_back({c.token, seq, first_pos + c.depth - 1, -1, true, parent_row});
  }
  // The first level starts the pending rows afresh; deeper levels append to them.
  return candidates_[size_t(chosen[0])].depth == 1 ? 0 : cache_.cache().pending();
}

std::vector<int32_t> TreeDrafter::grow(const std::vector<int32_t>& chosen, const float* logits, int64_t first_row) {
  std::vector<int32_t> next;
  for (size_t j = 0; j < chosen.size(); ++j) {
    candidates_[size_t(chosen[j])].row = first_row + int64_t(j);
    const size_t before = candidates_.size();
    add_children(logits + j * size_t(cache_.vocab()), chosen[j]);
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
  TreeDrafter* self = this;
  const std::vector<int32_t>* wanted = &context;
  return draft_together({&self, 1}, {&wanted, 1}, {&max_depth, 1}).at(0);
}

int TreeDrafter::begin(const std::vector<int32_t>& context, int max_depth) {
  const int64_t room = cache_.cache().max_positions() - int64_t(context.size());
  const int depth = int(std::min<int64_t>(std::min(max_depth_, max_depth), room));
  if (!context.empty()) reuse_accepted_rows(context);
  candidates_.clear();
  proposals_.clear();
  return context.empty() || shape_.budget <= 0 ? 0 : std::max(depth, 0);
}

std::vector<TokenTree> TreeDrafter::draft_together(std::span<TreeDrafter* const> drafters,
                                                   std::span<const std::vector<int32_t>* const> contexts,
                                                   std::span<const int> max_depths) {
  const size_t n = drafters.size();
  std::vector<TokenTree> trees(n);
  std::vector<int> depth(n);
  std::vector<size_t> drafting;
  std::vector<DraftModelCache*> caches;
  std::vector<const std::vector<int32_t>*> synced;
  for (size_t i = 0; i < n; ++i) {
    depth[i] = drafters[i]->begin(*contexts[i], max_depths[i]);
    if (depth[i] <= 0) continue;
    drafting.push_back(i);
    caches.push_back(&drafters[i]->cache_);
    synced.push_back(contexts[i]);
  }
  DraftModelCache::sync_together(caches, synced);
  std::vector<std::vector<int32_t>> level(n);
  for (size_t i : drafting) {
    TreeDrafter& d = *drafters[i];
    d.add_children(d.cache_.logits().data(), -1);
    level[i].resize(d.candidates_.size());
    std::iota(level[i].begin(), level[i].end(), 0);
  }
  // Each level: the chosen nodes of every tree still growing, in one forward pass.
  for (int d = 1;; ++d) {
    std::vector<BatchToken> batch;
    std::vector<KvCache*> sequences;
    std::vector<size_t> growing;
    std::vector<std::vector<int32_t>> chosen;
    std::vector<int64_t> first_row, first_logit;
    for (size_t i : drafting) {
      if (d >= depth[i] || level[i].empty()) continue;
      TreeDrafter& drafter = *drafters[i];
      std::vector<int32_t> nodes = drafter.choose(level[i]);
      if (nodes.empty()) {
        level[i].clear();
        continue;
      }
      first_logit.push_back(int64_t(batch.size()));  // every expanded node asks for logits
      first_row.push_back(
          drafter.append_expansion(nodes, int64_t(contexts[i]->size()), int32_t(sequences.size()), batch));
      sequences.push_back(&drafter.cache_.cache());
      growing.push_back(i);
      chosen.push_back(std::move(nodes));
    }
    if (batch.empty()) break;
    auto logits = drafters[growing[0]]->cache_.model().forward(batch, sequences);
    for (size_t g = 0; g < growing.size(); ++g) {
      TreeDrafter& drafter = *drafters[growing[g]];
      level[growing[g]] = drafter.grow(
          chosen[g], logits.data() + size_t(first_logit[g]) * size_t(drafter.cache_.vocab()), first_row[g]);
    }
  }
  for (size_t i : drafting) trees[i] = drafters[i]->finish();
  return trees;
}

TokenTree TreeDrafter::finish() {
  TokenTree tree;
  // The budget best scores, each capped by its parent's and its earlier siblings' (a
  // no-op for greedy children, which come best first), so that the chosen set holds
  // every kept node's parent and earlier siblings; a stable sort breaks ties by index,
  // and candidates are numbered parents first, siblings in the order drawn.
  std::vector<double> rank(candidates_.size());
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const Candidate& c = candidates_[i];
    rank[i] = c.score;
    if (c.parent >= 0) rank[i] = std::min(rank[i], rank[size_t(c.parent)]);
    if (i > 0 && candidates_[i - 1].parent == c.parent) rank[i] = std::min(rank[i], rank[i - 1]);
  }
  std::vector<int32_t> order(candidates_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return rank[size_t(a)] > rank[size_t(b)]; });
  std::vector<bool> keep(candidates_.size(), false);
  for (size_t i = 0; i < order.size() && int(i) < shape_.budget; ++i) keep[size_t(order[i])] = true;
  std::vector<int32_t> node_of(candidates_.size(), -1);
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const Candidate& c = candidates_[i];
    if (!keep[i] || (c.parent >= 0 && node_of[size_t(c.parent)] < 0)) continue;
    node_of[i] = tree.add(c.token, c.parent < 0 ? -1 : node_of[size_t(c.parent)], c.prob);
  }
  for (auto& [parent, q] : proposals_) {
    const int32_t node = parent < 0 ? -1 : node_of[size_t(parent)];
    if ((parent < 0 || node >= 0) && !tree.children(node).empty()) tree.set_proposal(node, std::move(q));
  }
  return tree;
}

}  // namespace tandem
