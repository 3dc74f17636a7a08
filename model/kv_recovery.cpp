#include "model/kv_recovery.h"

#include <algorithm>
#include <iostream>
#include <string>

#include "model/remote_kv.h"

namespace tandem {
namespace {

// Positions before the cache's base run again as a chain into a cache on a replacement
// remote, which then takes the old one's place. A replacement that fails too gives way to
// the next, until none is left.
void rebuild_remote(const ForwardPass& forward, const ModelConfig& config, KvCache& cache, const std::string& why) {
  std::unique_ptr<RemoteKv> fresh = cache.remote()->replacement();
  for (;;) {
    if (!fresh) throw RemoteKvUnavailable(why + "; no KV shard is left to hold the sequence's segments");
    std::cerr << "tandem: " << why << "; rebuilding " << cache.base() << " positions on the remaining KV shards"
              << std::endl;
    KvCache rebuilt(config, cache.max_positions(), std::move(fresh));
    try {
      const std::vector<int32_t>& tokens = cache.committed_tokens();
      KvCache* caches[] = {&rebuilt};
      constexpr int64_t kChunk = 256;
      for (int64_t begin = 0; begin < cache.base(); begin += kChunk) {
        std::vector<BatchToken> chain;
        for (int64_t p = begin; p < std::min(cache.base(), begin + kChunk); ++p)
          chain.push_back({tokens[size_t(p)], 0, p, int32_t(p - begin) - 1, false});
        forward(chain, caches);
        rebuilt.commit_all();
      }
      cache.replace_remote(rebuilt.take_remote());
      return;
    } catch (const RemoteKvLost&) { fresh = rebuilt.remote()->replacement(); }
  }
}

}  // namespace

std::span<const float> forward_keeping_kv_shards(const ForwardPass& forward, const ModelConfig& config,
                                                 const std::vector<BatchToken>& batch,
                                                 std::span<KvCache* const> caches) {
  std::vector<int64_t> pending;  // each cache's pending rows before this pass, restored for a retry
  for (KvCache* cache : caches) pending.push_back(cache ? cache->pending() : 0);
  std::string why = "a KV shard failed while segments were handed over";
  for (;;) {
    for (KvCache* cache : caches)
      if (cache && cache->remote() && cache->remote()->failed()) rebuild_remote(forward, config, *cache, why);
    try {
      return forward(batch, caches);
    } catch (const RemoteKvLost& lost) {
      why = lost.what();
      for (size_t s = 0; s < caches.size(); ++s)
        if (caches[s]) caches[s]->drop_pending_from(pending[s]);
    }
  }
}

}  // namespace tandem
