#include "shards/local_kv_shards.h"

#include <string>

namespace tandem {

LocalKvShards::LocalKvShards(int count, int threads, KvShardLimits limits) {
  for (int k = 0; k < count; ++k) {
    auto [verifier_end, shard_end] = in_process_channel_pair();
    shards_.push_back(std::make_unique<KvShard>(limits, threads));
    links_.push_back(std::make_shared<ShardLink>(std::move(verifier_end), "local-" + std::to_string(k)));
    stop_.push_back(std::make_unique<std::atomic<bool>>(false));
    threads_.emplace_back([shard = shards_.back().get(), stop = stop_.back().get(), channel = std::move(shard_end)] {
      shard->serve(*channel, *stop);
    });
  }
}

LocalKvShards::~LocalKvShards() {
  for (auto& stop : stop_) *stop = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void LocalKvShards::kill(int k) {
  *stop_.at(size_t(k)) = true;
  threads_[size_t(k)].join();
}

std::vector<KvShardStats> LocalKvShards::stats() const {
  std::vector<KvShardStats> out;
  for (const auto& shard : shards_) out.push_back(shard->stats());
  return out;
}

RemoteKvFactory sharded_kv_factory(std::vector<std::shared_ptr<ShardLink>> links, const ModelConfig& config,
                                   int segment, std::chrono::milliseconds timeout) {
  return [links = std::move(links), config, segment, timeout](int64_t) -> std::unique_ptr<RemoteKv> {
    return std::make_unique<ShardedKv>(links, config, segment, timeout);
  };
}

}  // namespace tandem
