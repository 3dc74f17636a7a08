#include "server/prefix_cache.h"

#include <algorithm>
#include <span>

namespace tandem {
namespace {

// How many leading tokens `a` and `b` share.
size_t shared_length(const std::vector<int32_t>& a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return size_t(std::mismatch(a.begin(), a.begin() + int64_t(n), b.begin()).first - a.begin());
}

}  // namespace

PrefixHit PrefixCache::find(const std::string& scope, const std::vector<int32_t>& prompt_ids) {
  if (prompt_ids.size() < 2) return {};
  const std::span<const int32_t> positions(prompt_ids.data(), prompt_ids.size() - 1);
  auto best = entries_.end();
  size_t best_length = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->scope != scope) continue;
    const size_t length = shared_length(it->tokens, positions);
    if (length > best_length) best = it, best_length = length;
  }
  if (best == entries_.end()) return {};
  entries_.splice(entries_.begin(), entries_, best);  // used: last to go
  ++counts_.hits;
  counts_.hit_tokens += best_length;
  return {best->cache, int64_t(best_length)};
}

bool PrefixCache::touch(const std::string& scope, std::span<const int32_t> prompt_ids) {
  if (prompt_ids.size() < 2) return false;
  const std::span<const int32_t> positions = prompt_ids.first(prompt_ids.size() - 1);
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->scope == scope && shared_length(it->tokens, positions) == positions.size()) {
      entries_.splice(entries_.begin(), entries_, it);  // used: last to go
      return true;
    }
  return false;
}

void PrefixCache::insert(const std::string& scope, const std::vector<int32_t>& prompt_ids,
                         std::shared_ptr<const KvCache> cache) {
  if (!cache || prompt_ids.size() < 2 || cache->length() != int64_t(prompt_ids.size()) - 1) return;
  const size_t bytes = cache->bytes_allocated();
  if (bytes > budget_ || touch(scope, prompt_ids)) return;
  const std::span<const int32_t> positions(prompt_ids.data(), prompt_ids.size() - 1);
  for (auto it = entries_.begin(); it != entries_.end();) {
    const auto next = std::next(it);
    if (it->scope == scope && shared_length(it->tokens, positions) == it->tokens.size()) erase(it);  // extended
    it = next;
  }
  entries_.push_front({scope, std::vector<int32_t>(positions.begin(), positions.end()), std::move(cache), bytes});
  counts_.bytes += bytes;
  while (counts_.bytes > budget_) {
    erase(std::prev(entries_.end()));
    ++counts_.evictions;
  }
}

PrefixCacheCounts PrefixCache::counts() const {
  PrefixCacheCounts c = counts_;
  c.entries = entries_.size();
  return c;
}

void PrefixCache::erase(std::list<Entry>::iterator entry) {
  counts_.bytes -= entry->bytes;
  entries_.erase(entry);
}

}  // namespace tandem
