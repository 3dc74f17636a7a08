#include "server/prompt_reuse.h"

#include "observability/metrics.h"

namespace tandem {

PromptReuse::PromptReuse(size_t budget_bytes, bool per_client) : per_client_(per_client), cache_(budget_bytes) {
  metrics().prefix_cache_budget.Set(double(budget_bytes));
}

bool PromptReuse::applies_to(ActiveRequest& request) const {
  return cache_.budget() > 0 && request.ticket().spec.prefix_cache && request.sample_index() == 0 &&
         request.run().cache().store().on_host();
}

std::string PromptReuse::scope_of(ActiveRequest& request) const {
  std::string scope = per_client_ ? request.ticket().spec.group : "";
  // Prompts kept on KV shards serve only requests on them, and host ones only host ones.
  if (request.run().cache().remote()) scope += "\x1fkv-shards";
  return scope;
}

void PromptReuse::before_prefill(ActiveRequest& request) {
  if (!applies_to(request) || request.run().cached_positions() > 0) return;
  const std::string scope = scope_of(request);
  PrefixHit hit;
  {
    std::lock_guard lock(mutex_);
    hit = cache_.find(scope, request.ticket().prompt_ids);
  }
  if (hit.positions == 0) return;
  int64_t taken = hit.positions;
  if (hit.cache->remote()) {
    taken = request.run().adopt_remote_prefix(*hit.cache, hit.positions);
    if (taken == 0) {
      std::lock_guard lock(mutex_);
      cache_.forget(hit.cache.get(), hit.positions);  // its shards freed the segments: of no use now
      return;
    }
  } else {
    request.run().adopt_prefix(hit.cache, hit.positions);
  }
  metrics().prefix_cache_hits.Increment();
  metrics().prefix_cache_hit_tokens.Increment(double(taken));
}

void PromptReuse::after_prefill(ActiveRequest& request) {
  const int64_t positions = int64_t(request.ticket().prompt_ids.size()) - 1;
  if (!applies_to(request) || request.run().stats().passes > 0 || positions < 1) return;
  if (request.run().cached_positions() == positions) return;  // read whole from the cache: nothing new to keep
  const KvCache& cache = request.run().cache();
  // When the first token came out of the prefill, the cache holds the prompt's last position
  // too: keyed by the context (prompt and that token), the entry covers every one of them.
  if (!cache.remote()) return keep(request, request.run().context(), request.run().share_prompt());
  {
    std::lock_guard lock(mutex_);
    if (cache_.touch(scope_of(request), request.ticket().prompt_ids)) return;  // held already: no copy
  }
  keep(request, request.ticket().prompt_ids, cache.share_remote_prefix(positions));
}

void PromptReuse::after_finish(ActiveRequest& request) {
  if (!applies_to(request)) return;
  const KvCache& cache = request.run().cache();
  const std::vector<int32_t>& tokens = request.run().context();
  // Drafts accepted past a stop or the token limit are in the cache but not the output.
  const int64_t positions = std::min<int64_t>(cache.length(), int64_t(tokens.size()) - 1);
  if (positions <= int64_t(request.ticket().prompt_ids.size()) - 1 || cache.pending() > 0) return;
  const std::span<const int32_t> conversation = std::span(tokens).first(size_t(positions) + 1);
  {
    std::lock_guard lock(mutex_);
    if (cache_.touch(scope_of(request), conversation)) return;  // held already: no copy
  }
  if (cache.remote()) return keep(request, conversation, cache.share_remote_prefix(positions));
  auto whole = std::make_shared<KvCache>(cache.flat_copy());
  whole->truncate(positions);
  whole->shrink_to_committed();
  keep(request, conversation, std::move(whole));
}

void PromptReuse::keep(ActiveRequest& request, std::span<const int32_t> tokens, std::shared_ptr<const KvCache> cache) {
  if (!cache) return;  // KV shards that could not share
  // A copy on KV shards may end at a segment's start, before the last token's position.
  tokens = tokens.first(std::min(tokens.size(), size_t(cache->length()) + 1));
  std::lock_guard lock(mutex_);
  const uint64_t evicted_before = cache_.counts().evictions;
  cache_.insert(scope_of(request), std::vector<int32_t>(tokens.begin(), tokens.end()), std::move(cache));
  const PrefixCacheCounts counts = cache_.counts();
  metrics().prefix_cache_evictions.Increment(double(counts.evictions - evicted_before));
  metrics().prefix_cache_bytes.Set(double(counts.bytes));
}

nlohmann::json PromptReuse::health() const {
  std::lock_guard lock(mutex_);
  const PrefixCacheCounts c = cache_.counts();
  return {{"budget_bytes", cache_.budget()},
          {"bytes", c.bytes},
          {"entries", c.entries},
          {"hits", c.hits},
          {"hit_tokens", c.hit_tokens},
          {"evictions", c.evictions},
          {"scope", per_client_ ? "key" : "global"}};
}

}  // namespace tandem
