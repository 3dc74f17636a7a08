#include "speculation/draft_model_cache.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/ops.h"

namespace tandem {
namespace {
constexpr int kChunk = 256;           // context tokens of one cache per forward pass when the drafter catches up
constexpr size_t kPassTokens = 1024;  // most tokens of all caches in one such pass (bounds its buffers)
}  // namespace

DraftModelCache::DraftModelCache(Transformer& draft_model, int64_t max_context)
    : model_(draft_model), cache_(draft_model.model().config(), max_context) {}

const std::vector<float>& DraftModelCache::sync(const std::vector<int32_t>& context) {
  DraftModelCache* self = this;
  const std::vector<int32_t>* wanted = &context;
  sync_together({&self, 1}, {&wanted, 1});
  return logits_;
}

const std::vector<float>& DraftModelCache::append(int32_t token) {
  DraftModelCache* self = this;
  append_together({&self, 1}, {&token, 1});
  return logits_;
}

void DraftModelCache::sync_together(std::span<DraftModelCache* const> caches,
                                    std::span<const std::vector<int32_t>* const> contexts) {
  // Each cache keeps the longest prefix it shares with its context; the rest is fed below.
  std::vector<int64_t> next(caches.size());  // next context position to feed (its size: nothing left)
  for (size_t c = 0; c < caches.size(); ++c) {
    DraftModelCache& d = *caches[c];
    const std::vector<int32_t>& context = *contexts[c];
    if (context.empty()) throw std::invalid_argument("a drafter needs a context");
    if (&d.model_ != &caches[0]->model_) throw std::invalid_argument("sync_together: caches of different models");
    size_t keep = 0;
    while (keep < d.cached_.size() && keep < context.size() && d.cached_[keep] == context[keep]) ++keep;
    if (keep == context.size() && keep == d.cached_.size() && d.logits_valid_) {
      d.cache_.truncate(int64_t(keep));  // drops pending tree rows, if any
      next[c] = int64_t(context.size());
      continue;
    }
    d.score_context_tokens(context);
    // The logits kept from the last sync guess the first token past the cache.
    if (d.logits_valid_ && keep == d.cached_.size() && d.guesses(int64_t(keep), context.size()))
      d.guesses_.push_back({int64_t(keep), int32_t(argmax(d.logits_.data(), d.vocab()))});
    keep = std::min(keep, context.size() - 1);  // the last token is run again for its logits
    d.cache_.truncate(int64_t(keep));
    d.cached_.resize(keep);
    d.logits_valid_ = false;
    next[c] = int64_t(keep);
  }
  // Forward passes of up to kChunk tokens of each cache, until every context is in.
  const int64_t vocab = caches.empty() ? 0 : caches[0]->vocab();
  for (;;) {
    std::vector<BatchToken> batch;
    std::vector<KvCache*> sequences;
    std::vector<size_t> owner;                     // cache of each sequence
    std::vector<std::pair<size_t, int64_t>> rows;  // of each logits row: its cache and position
    std::vector<int64_t> end;                      // of each sequence: where its tokens in this pass end
    for (size_t c = 0; c < caches.size() && batch.size() < kPassTokens; ++c) {
      const std::vector<int32_t>& context = *contexts[c];
      const int64_t from = next[c], to = std::min<int64_t>(int64_t(context.size()), from + kChunk);
      if (from >= to) continue;
      const int32_t seq = int32_t(sequences.size());
      for (int64_t i = from; i < to; ++i) {
        const bool logits = i + 1 == int64_t(context.size()) || caches[c]->guesses(i + 1, context.size());
        batch.push_back({context[size_t(i)], seq, i, i == from ? -1 : int32_t(batch.size()) - 1, logits});
        if (logits) rows.emplace_back(c, i);
      }
      sequences.push_back(&caches[c]->cache_);
      owner.push_back(c);
      end.push_back(to);
    }
    if (batch.empty()) return;
    auto out = caches[0]->model_.forward(batch, sequences);
    for (size_t s = 0; s < sequences.size(); ++s) {
      DraftModelCache& d = *caches[owner[s]];
      const std::vector<int32_t>& context = *contexts[owner[s]];
      d.cache_.commit_all();
      d.cached_.insert(d.cached_.end(), context.begin() + next[owner[s]], context.begin() + end[s]);
      next[owner[s]] = end[s];
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      const auto [c, position] = rows[r];
      DraftModelCache& d = *caches[c];
      const auto row = out.begin() + int64_t(r) * vocab;
      if (position + 1 < int64_t(contexts[c]->size())) {
        d.guesses_.push_back({position + 1, int32_t(argmax(&*row, vocab))});
      } else {
        d.logits_.assign(row, row + vocab);
        d.logits_valid_ = true;
      }
    }
  }
}

bool DraftModelCache::guesses(int64_t position, size_t context_size) const {
  return position >= guess_from_ && position >= int64_t(context_size) - kMaxGuesses;
}

void DraftModelCache::score_context_tokens(const std::vector<int32_t>& context) {
  if (model_.vocabulary().empty()) return;
  if (scored_extra_.empty()) scored_extra_.assign(size_t(vocab()), false);
  // A context that is not the one scanned so far (shorter) is scanned again; tokens already
  // scored stay scored (harmless: a superset).
  if (context_scanned_ > context.size()) context_scanned_ = 0;
  for (size_t i = context_scanned_; i < context.size(); ++i) {
    const int32_t token = context[i];
    if (token < 0 || token >= vocab() || model_.scores(token) || scored_extra_[size_t(token)]) continue;
    scored_extra_[size_t(token)] = true;
    cache_.also_score(token);
  }
  context_scanned_ = context.size();
}

void DraftModelCache::append_together(std::span<DraftModelCache* const> caches, std::span<const int32_t> tokens) {
  if (caches.empty()) return;
  std::vector<BatchToken> batch;
  std::vector<KvCache*> sequences;
  for (size_t c = 0; c < caches.size(); ++c) {
    DraftModelCache& d = *caches[c];
    if (&d.model_ != &caches[0]->model_) throw std::invalid_argument("append_together: caches of different models");
    d.cache_.truncate(d.cache_.length());
    batch.push_back({tokens[c], int32_t(c), d.cache_.length(), -1, true});
    sequences.push_back(&d.cache_);
  }
  auto out = caches[0]->model_.forward(batch, sequences);
  const int64_t vocab = caches[0]->vocab();
  for (size_t c = 0; c < caches.size(); ++c) {
    DraftModelCache& d = *caches[c];
    d.cache_.commit_all();
    d.cached_.push_back(tokens[c]);
    d.logits_.assign(out.begin() + int64_t(c) * vocab, out.begin() + int64_t(c + 1) * vocab);
    d.logits_valid_ = true;
  }
}

void DraftModelCache::commit_pending(const std::vector<int64_t>& rows, const std::vector<int32_t>& tokens) {
  cache_.commit(rows);
  cached_.insert(cached_.end(), tokens.begin(), tokens.end());
  logits_valid_ = false;
}

float softmax_probability(const float* logits, int32_t n, int32_t token) {
  const float top = *std::max_element(logits, logits + n);
  double total = 0.0;
  for (int32_t i = 0; i < n; ++i) total += std::exp(double(logits[i]) - double(top));
  return float(std::exp(double(logits[token]) - double(top)) / total);
}

}  // namespace tandem
