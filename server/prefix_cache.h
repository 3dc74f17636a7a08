#pragma once
// Prompts' keys and values kept after their requests end, so that a later prompt that
// starts the same way (a chat's next turn resending its history, a shared system prompt,
// an agent's growing transcript) reads those positions instead of computing them again.
// Exact: a position's keys and values depend only on the tokens up to it, and the
// forward computes them bit for bit the same whatever the batch or chunk.
//
//   prompt ─▶ find: the longest cached prompt sharing its start ─▶ adopt_prefix (KvCache shares those rows)
//          ─▶ prefill the rest ─▶ share_prompt ─▶ insert (replacing a cached prompt it extends)
//   over the budget ─▶ the least recently used entries go (a live request keeps its rows until it ends)
//
// Lookup is by block hashes, as vLLM does: every entry is indexed under the hash of each of
// its whole blocks of `block` tokens chained with all the blocks before it (and its scope),
// so a prompt finds the entries sharing its first k blocks in k hash lookups, whatever the
// number of entries; the tokens are then compared to find the exact shared length (which
// also rules out hash collisions). A prompt shorter than one block is not kept.
//
// Entries are kept per scope: '' for everyone, or a client group (an API key's name) when
// tenants must not see each other's prefixes in their timings. One thread uses it.
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/kv_cache.h"

namespace tandem {

/// A cached prefix for a prompt: read its first `positions` positions from `cache`.
struct PrefixHit {
  std::shared_ptr<const KvCache> cache;
  int64_t positions = 0;  // 0: no hit
};

/// What the cache holds and has done, for metrics and /health.
struct PrefixCacheCounts {
  size_t entries = 0, bytes = 0;
  uint64_t hits = 0, hit_tokens = 0, evictions = 0;
};

/// Committed prompt positions under a memory budget, least recently used first out.
class PrefixCache {
 public:
  /// Keeps at most `budget_bytes` of keys and values (0: keeps nothing), wherever they live
  /// (host rows and KV shards' segments alike), indexed by blocks of `block` tokens.
  explicit PrefixCache(size_t budget_bytes, int block = 16);

  /// The longest cached prefix, in `scope`, of a prompt of `prompt_ids`: at most all but its
  /// last token (the one that opens the first pass), and at least one block. From a cache
  /// with segments on KV shards, whole segments or all of them (KvCache::adopt_remote_prefix).
  PrefixHit find(const std::string& scope, const std::vector<int32_t>& prompt_ids);
  /// Whether an entry in `scope` already holds the positions of `prompt_ids` (all but the
  /// last), maybe within a longer prompt; if so it counts as just used. A caller about to
  /// copy a cache for insert() asks this first.
  bool touch(const std::string& scope, std::span<const int32_t> prompt_ids);
  /// Keeps `cache`, the positions of `prompt_ids` but the last, for later prompts in `scope`.
  /// A cached prompt that this one extends is replaced by it; a prompt a cached one already
  /// holds, one shorter than a block, or one larger than the budget, is not kept.
  void insert(const std::string& scope, const std::vector<int32_t>& prompt_ids, std::shared_ptr<const KvCache> cache);
  /// Drops the entry holding `cache`, whose hit of `positions` found() could not be read
  /// after all (a KV shard had freed its segments); that hit is not counted.
  void forget(const KvCache* cache, int64_t positions);

  /// The budget in bytes.
  size_t budget() const { return budget_; }
  /// Entries, bytes and what happened so far.
  PrefixCacheCounts counts() const;

 private:
  struct Entry {
    std::string scope;
    std::vector<int32_t> tokens;  // the cached positions' tokens
    std::shared_ptr<const KvCache> cache;
    size_t bytes = 0;
  };
  using EntryRef = std::list<Entry>::iterator;

  // The chained hash of each whole block of `tokens` in `scope`.
  std::vector<uint64_t> block_keys(const std::string& scope, std::span<const int32_t> tokens) const;
  // The entries sharing the most whole blocks with `tokens` (nullptr: none shares one).
  const std::vector<EntryRef>* deepest(const std::string& scope, std::span<const int32_t> tokens) const;
  // The entry of `candidates` sharing the longest start with `tokens`, and that length.
  std::pair<EntryRef, size_t> longest(const std::vector<EntryRef>& candidates, std::span<const int32_t> tokens);
  void erase(EntryRef entry);

  size_t budget_;
  int block_;
  std::list<Entry> entries_;                                    // most recently used first
  std::unordered_map<uint64_t, std::vector<EntryRef>> blocks_;  // chained block hash -> entries holding those blocks
  PrefixCacheCounts counts_;                                    // all but `entries`, which is entries_.size()
};

}  // namespace tandem
