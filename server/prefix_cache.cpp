#include "server/prefix_cache.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

namespace tandem {
namespace {

// How many leading tokens `a` and `b` share.
size_t shared_length(const std::vector<int32_t>& a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return size_t(std::mismatch(a.begin(), a.begin() + int64_t(n), b.begin()).first - a.begin());
}

// splitmix64's finaliser: every input bit moves every output bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// All but the last token: the positions a prompt's cache holds.
std::span<const int32_t> positions_of(std::span<const int32_t> prompt_ids) {
  return prompt_ids.empty() ? prompt_ids : prompt_ids.first(prompt_ids.size() - 1);
}

}  // namespace

PrefixCache::PrefixCache(size_t budget_bytes, int block) : budget_(budget_bytes), block_(block) {
  if (block < 1) throw std::invalid_argument("prefix cache: a block holds at least one token");
}

std::vector<uint64_t> PrefixCache::block_keys(const std::string& scope, std::span<const int32_t> tokens) const {
  std::vector<uint64_t> keys;
  uint64_t key = mix(std::hash<std::string>{}(scope));
  for (size_t end = size_t(block_); end <= tokens.size(); end += size_t(block_)) {
    for (size_t i = end - size_t(block_); i < end; ++i) key = mix(key + uint32_t(tokens[i]) + 0x9e3779b97f4a7c15ull);
    keys.push_back(key);
  }
  return keys;
}

const std::vector<PrefixCache::EntryRef>* PrefixCache::deepest(const std::string& scope,
                                                               std::span<const int32_t> tokens) const {
  const std::vector<EntryRef>* found = nullptr;
  for (uint64_t key : block_keys(scope, tokens)) {
    auto it = blocks_.find(key);
    if (it == blocks_.end()) break;
    found = &it->second;
  }
  return found;
}

std::pair<PrefixCache::EntryRef, size_t> PrefixCache::longest(const std::vector<EntryRef>& candidates,
                                                              std::span<const int32_t> tokens) {
  auto best = entries_.end();
  size_t best_length = 0;
  for (EntryRef entry : candidates) {
    const size_t length = shared_length(entry->tokens, tokens);
    if (length > best_length) best = entry, best_length = length;
  }
  // A hash collision shares fewer tokens than the blocks it matched: no use below one block.
  if (best_length < size_t(block_)) return {entries_.end(), 0};
  return {best, best_length};
}

PrefixHit PrefixCache::find(const std::string& scope, const std::vector<int32_t>& prompt_ids) {
  const std::span<const int32_t> positions = positions_of(prompt_ids);
  const std::vector<EntryRef>* candidates = deepest(scope, positions);
  if (!candidates) return {};
  auto [best, length] = longest(*candidates, positions);
  if (best == entries_.end()) return {};
  const KvCache& cached = *best->cache;
  if (cached.remote() && int64_t(length) < cached.base())
    length = length / size_t(cached.remote()->segment()) * size_t(cached.remote()->segment());
  if (length == 0) return {};
  entries_.splice(entries_.begin(), entries_, best);  // used: last to go
  ++counts_.hits;
  counts_.hit_tokens += length;
  return {best->cache, int64_t(length)};
}

bool PrefixCache::touch(const std::string& scope, std::span<const int32_t> prompt_ids) {
  const std::span<const int32_t> positions = positions_of(prompt_ids);
  const std::vector<EntryRef>* candidates = deepest(scope, positions);
  if (!candidates) return false;
  for (EntryRef entry : *candidates)
    if (shared_length(entry->tokens, positions) == positions.size()) {
      entries_.splice(entries_.begin(), entries_, entry);  // used: last to go
      return true;
    }
  return false;
}

void PrefixCache::insert(const std::string& scope, const std::vector<int32_t>& prompt_ids,
                         std::shared_ptr<const KvCache> cache) {
  const std::span<const int32_t> positions = positions_of(prompt_ids);
  if (!cache || positions.size() < size_t(block_) || cache->length() != int64_t(positions.size())) return;
  const size_t bytes = cache->bytes_allocated() + cache->bytes_on_remote();
  if (bytes > budget_ || touch(scope, prompt_ids)) return;
  const std::vector<uint64_t> keys = block_keys(scope, positions);
  // Cached prompts this one extends: each is indexed under its last whole block, on this path.
  std::vector<EntryRef> extended;
  for (size_t level = 0; level < keys.size(); ++level) {
    auto it = blocks_.find(keys[level]);
    if (it == blocks_.end()) break;
    for (EntryRef entry : it->second)
      if (entry->tokens.size() / size_t(block_) == level + 1 &&
          shared_length(entry->tokens, positions) == entry->tokens.size())
        extended.push_back(entry);
  }
  for (EntryRef entry : extended) erase(entry);
  entries_.push_front({scope, std::vector<int32_t>(positions.begin(), positions.end()), std::move(cache), bytes});
  for (uint64_t key : keys) blocks_[key].push_back(entries_.begin());
  counts_.bytes += bytes;
  while (counts_.bytes > budget_) {
    erase(std::prev(entries_.end()));
    ++counts_.evictions;
  }
}

void PrefixCache::forget(const KvCache* cache, int64_t positions) {
  --counts_.hits;
  counts_.hit_tokens -= uint64_t(positions);
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->cache.get() == cache) return erase(it);
}

PrefixCacheCounts PrefixCache::counts() const {
  PrefixCacheCounts c = counts_;
  c.entries = entries_.size();
  return c;
}

void PrefixCache::erase(EntryRef entry) {
  for (uint64_t key : block_keys(entry->scope, entry->tokens)) {
    auto it = blocks_.find(key);
    std::erase(it->second, entry);
    if (it->second.empty()) blocks_.erase(it);
  }
  counts_.bytes -= entry->bytes;
  entries_.erase(entry);
}

}  // namespace tandem
