#include "speculation/drafter.h"

#include <algorithm>

#include "kernels/ops.h"

namespace tandem {

double drafter_uniform(uint64_t seed, int64_t draw) {
  constexpr uint64_t kDrafterStreams = 0x6472616674657273ull;  // "drafters"
  return uniform_random(seed ^ kDrafterStreams, draw);
}

Proposal draft_proposal(const float* logits, int32_t vocab, const SamplingParams& params) {
  SamplingParams cut = params;
  cut.top_k = params.top_k > 0 ? std::min(params.top_k, kMaxProposalTokens) : kMaxProposalTokens;
  Proposal q;
  for (const auto& [id, p] : sampling_distribution(logits, vocab, cut))
    if (p > 0) q.push_back({id, float(p)});  // a restricted vocabulary (FR-Spec) leaves zeros
  return q;
}

std::vector<int32_t> draw_distinct(const Proposal& q, int k, const std::function<double()>& uniform) {
  std::vector<int32_t> drawn;
  std::vector<bool> taken(q.size(), false);
  double left = 0.0;  // mass of the tokens not yet drawn
  for (const auto& entry : q) left += entry.second;
  while (int(drawn.size()) < std::min<int>(k, int(q.size()))) {
    double r = uniform() * left;
    size_t pick = q.size();
    for (size_t i = 0; i < q.size(); ++i) {
      if (taken[i] || q[i].second <= 0.0f) continue;
      pick = i;  // the last candidate, should rounding leave r >= 0
      if ((r -= q[i].second) < 0.0) break;
    }
    if (pick == q.size()) break;  // nothing with mass is left
    taken[pick] = true;
    left -= q[pick].second;
    drawn.push_back(q[pick].first);
  }
  return drawn;
}

float proposal_probability(const Proposal& q, int32_t token) {
  for (const auto& [id, p] : q)
    if (id == token) return p;
  return 0.0f;
}

ChainDrafter::ChainDrafter(Transformer& draft_model, int length, int64_t max_context)
    : cache_(draft_model, max_context), length_(length) {}

int64_t ChainDrafter::unseen_tokens(const std::vector<int32_t>& context) const {
  const std::vector<int32_t>& cached = cache_.cached();
  const auto shared = std::mismatch(context.begin(), context.end(), cached.begin(), cached.end()).first;
  return int64_t(context.end() - shared);
}

TokenTree ChainDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  ChainDrafter* self = this;
  const std::vector<int32_t>* wanted = &context;
  return draft_together({&self, 1}, {&wanted, 1}, {&max_depth, 1}).at(0);
}

std::vector<TokenTree> ChainDrafter::draft_together(std::span<ChainDrafter* const> drafters,
                                                    std::span<const std::vector<int32_t>* const> contexts,
                                                    std::span<const int> max_depths) {
  std::vector<TokenTree> trees(drafters.size());
  std::vector<int> length(drafters.size());
  std::vector<size_t> drafting;  // those with room for a draft
  for (size_t i = 0; i < drafters.size(); ++i) {
    // Room for the drafts in this cache (the target checks its own).
    DraftModelCache& cache = drafters[i]->cache_;
    length[i] = int(std::min<int64_t>(std::min(drafters[i]->length_, max_depths[i]),
                                      cache.cache().max_positions() - int64_t(contexts[i]->size())));
    if (!contexts[i]->empty() && length[i] > 0) drafting.push_back(i);
  }
  std::vector<DraftModelCache*> caches;
  std::vector<const std::vector<int32_t>*> synced;
  for (size_t i : drafting) {
    caches.push_back(&drafters[i]->cache_);
    synced.push_back(contexts[i]);
  }
  DraftModelCache::sync_together(caches, synced);
  std::vector<int32_t> parent(drafters.size(), -1);
  for (int level = 0; !drafting.empty(); ++level) {
    std::vector<size_t> going_on;
    std::vector<int32_t> tokens;
    caches.clear();
    for (size_t i : drafting) {
      ChainDrafter& d = *drafters[i];
      const float* logits = d.cache_.logits().data();
      const int32_t vocab = d.cache_.vocab();
      TokenTree& tree = trees[i];
      int32_t token;
      if (d.sampling()) {
        Proposal q = draft_proposal(logits, vocab, d.sampling_);
        token = draw_distinct(q, 1, [&d] { return d.next_uniform(); }).at(0);
        const int32_t node = tree.add(token, parent[i], proposal_probability(q, token));
        tree.set_proposal(parent[i], std::move(q));
        parent[i] = node;
      } else {
        token = int32_t(argmax(logits, vocab));
        parent[i] = tree.add(token, parent[i], softmax_probability(logits, vocab, token));
      }
      if (level + 1 == length[i]) continue;  // the last draft's own logits are never needed
      going_on.push_back(i);
      caches.push_back(&d.cache_);
      tokens.push_back(token);
    }
    DraftModelCache::append_together(caches, tokens);
    drafting.swap(going_on);
  }
  return trees;
}

TokenTree PromptLookupDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  TokenTree tree;
  const int64_t size = int64_t(context.size()), length = std::min(length_, max_depth);
  const int32_t budget = int32_t(2 * length);
  if (length <= 0) return tree;
  for (int64_t n = std::min<int64_t>(max_ngram_, size - 1); n >= 1; --n) {
    int branches = 0;
    // Occurrences of the last n tokens, latest first, that have something after them.
    for (int64_t start = size - n - 1; start >= 0 && branches < kMaxBranches && tree.size() < budget; --start) {
      if (!std::equal(context.begin() + start, context.begin() + start + n, context.end() - n)) continue;
      int32_t parent = -1;
      bool branched = false;
      for (int64_t j = start + n; j < std::min(size, start + n + length) && tree.size() < budget; ++j) {
        int32_t node = -1;
        for (int32_t child : tree.children(parent))
          if (tree[child].token == context[size_t(j)]) node = child;
        if (node < 0) {
          node = tree.add(context[size_t(j)], parent, 1.0f);
          branched = true;
        }
        parent = node;
      }
      branches += branched;
    }
    if (!tree.empty()) return tree;
  }
  return tree;
}

}  // namespace tandem

namespace tandem {

void RecyclingDrafter::observe(const std::vector<int32_t>& tokens, const float* logits, int32_t vocab) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    const float* row = logits + i * size_t(vocab);
    std::array<int32_t, kCandidates> best;
    best.fill(-1);
    // Top kCandidates by logit (ties: lower id), by insertion into a short sorted list.
    for (int32_t id = 0; id < vocab; ++id) {
      int slot = kCandidates;
      while (slot > 0 && (best[size_t(slot - 1)] < 0 || row[id] > row[best[size_t(slot - 1)]])) --slot;
      if (slot == kCandidates) continue;
      for (int k = kCandidates - 1; k > slot; --k) best[size_t(k)] = best[size_t(k - 1)];
      best[size_t(slot)] = id;
    }
    next_[tokens[i]] = best;
  }
}

TokenTree RecyclingDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  TokenTree tree;
  const int depth = std::min(depth_, max_depth);
  if (context.empty() || depth <= 0) return tree;
  auto first = next_.find(context.back());
  if (first == next_.end()) return tree;
  for (int w = 0; w < width_; ++w) {
    int32_t token = first->second[size_t(w)];
    if (token < 0) break;
    int32_t node = tree.add(token, -1, 1.0f);
    for (int d = 1; d < depth; ++d) {
      auto it = next_.find(token);
      if (it == next_.end() || it->second[0] < 0) break;
      token = it->second[0];
      node = tree.add(token, node, 1.0f);
    }
  }
  return tree;
}

}  // namespace tandem
