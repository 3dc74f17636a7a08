#pragma once
// KV shards inside this process, each serving on its own thread behind an
// in-process channel: `tandem serve --shards N`, `tandem generate --shards N`
// and the tests. The verifier talks to them exactly as to shard processes.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "shards/kv_shard.h"
#include "shards/sharded_kv.h"

namespace tandem {

class LocalKvShards {
 public:
  /// `count` shards of `threads` worker threads each.
  LocalKvShards(int count, int threads, KvShardLimits limits = {});
  ~LocalKvShards();
  LocalKvShards(const LocalKvShards&) = delete;
  LocalKvShards& operator=(const LocalKvShards&) = delete;

  /// The verifier's links to the shards.
  const std::vector<std::shared_ptr<ShardLink>>& links() const { return links_; }
  /// What each shard holds now.
  std::vector<KvShardStats> stats() const;
  /// Stops shard k as if it died: it answers nothing more.
  void kill(int k);

 private:
  std::vector<std::unique_ptr<KvShard>> shards_;
  std::vector<std::shared_ptr<ShardLink>> links_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<std::atomic<bool>>> stop_;  // [shard]
};

/// A GenerationOptions::kv_remote that gives each request its own ShardedKv over the links
/// not marked failed (throws std::runtime_error when none is left).
RemoteKvFactory sharded_kv_factory(std::vector<std::shared_ptr<ShardLink>> links, const ModelConfig& config,
                                   int segment, std::chrono::milliseconds timeout);

}  // namespace tandem
