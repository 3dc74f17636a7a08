#include "spec/draft_model_cache.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "spec/generation.h"

namespace tandem {
namespace {
constexpr int kChunk = 256;  // context tokens per forward pass when the drafter catches up
}

DraftModelCache::DraftModelCache(Transformer& draft_model, int64_t max_context)
    : model_(draft_model), cache_(draft_model.model().config(), max_context) {}

const std::vector<float>& DraftModelCache::sync(const std::vector<int32_t>& context) {
  if (context.empty()) throw std::invalid_argument("a drafter needs a context");
  size_t keep = 0;
  while (keep < cached_.size() && keep < context.size() && cached_[keep] == context[keep]) ++keep;
  if (keep == context.size() && keep == cached_.size() && logits_valid_) {
    cache_.truncate(int64_t(keep));  // drops pending tree rows, if any
    return logits_;
  }
  keep = std::min(keep, context.size() - 1);  // the last token is run again for its logits
  cache_.truncate(int64_t(keep));
  cached_.resize(keep);
  logits_ = feed_chain(model_, cache_, context, int64_t(keep), int64_t(context.size()), kChunk, true);
  cached_.insert(cached_.end(), context.begin() + int64_t(keep), context.end());
  logits_valid_ = true;
  return logits_;
}

const std::vector<float>& DraftModelCache::append(int32_t token) {
  KvCache* caches[] = {&cache_};
  cache_.truncate(cache_.length());
  auto out = model_.forward({{token, 0, cache_.length(), -1, true}}, caches);
  cache_.commit_all();
  cached_.push_back(token);
  logits_.assign(out.begin(), out.end());
  logits_valid_ = true;
  return logits_;
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
