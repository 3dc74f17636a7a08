#pragma once
// The prefix cache (server/prefix_cache.h) as the request worker uses it: before a request
// prefills, the longest cached start of its prompt becomes its cache's; once its prompt is
// in, the prompt joins the cache; when it finishes, its prompt and output do (a chat's next
// turn resends that output). Scoped by client group when asked, counted in the metrics and
// shown in /health. A request whose cache keeps segments on KV shards reads and leaves its
// prompts there: cached segments stay on their shards, shared by the requests that read them.
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>

#include "server/active_request.h"
#include "server/prefix_cache.h"

namespace tandem {

/// Prompts served from and left in one PrefixCache.
class PromptReuse {
 public:
  /// A cache of `budget_bytes` (0: none); `per_client`: each client group reads only its own.
  PromptReuse(size_t budget_bytes, bool per_client);
  /// Before `request` prefills (worker thread).
  void before_prefill(ActiveRequest& request);
  /// Once its prompt is in, before its first pass (worker thread).
  void after_prefill(ActiveRequest& request);
  /// When it has finished (worker thread): the prompt and the output its cache holds.
  void after_finish(ActiveRequest& request);
  /// Budget, bytes, entries, hits, hit tokens, evictions and scope (any thread).
  nlohmann::json health() const;

 private:
  // Whether the cache may serve and keep this request's prompt: a cache of the request's
  // own with host rows (not a later sample's), and it did not say no.
  bool applies_to(ActiveRequest& request) const;
  // The scope of a request's prompts.
  std::string scope_of(ActiveRequest& request) const;
  // Keeps `cache`, holding the positions of `tokens` but the last, for the request's scope.
  void keep(ActiveRequest& request, std::span<const int32_t> tokens, std::shared_ptr<const KvCache> cache);

  bool per_client_;
  mutable std::mutex mutex_;  // the worker thread uses the cache, /health reads it
  PrefixCache cache_;
};

}  // namespace tandem
