#include "runner/shard_pool.h"

#include <sstream>

#include "cluster/channel.h"
#include "cluster/log.h"

namespace tandem {

ShardPool::ShardPool(std::vector<std::shared_ptr<ShardLink>> fixed, const ModelConfig& config,
                     ShardPoolSettings settings)
    : fixed_(std::move(fixed)), config_(config), settings_(settings) {}

void ShardPool::assign(const std::string& endpoints) {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<ShardLink>> links;
  std::stringstream list(endpoints);
  for (std::string endpoint; std::getline(list, endpoint, ',');) {
    if (endpoint.empty()) continue;
    std::shared_ptr<ShardLink> link;
    for (const auto& old : assigned_)
      if (old->name() == endpoint && !old->failed()) link = old;
    links.push_back(link ? link : std::make_shared<ShardLink>(zmq_channel_connect(endpoint), endpoint));
  }
  assigned_ = std::move(links);
  log_event(assigned_.empty() ? LogLevel::debug : LogLevel::info, "shards_assigned",
            {{"shards", int64_t(assigned_.size())}});
}

std::vector<std::shared_ptr<ShardLink>> ShardPool::links() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<ShardLink>> all = fixed_;
  all.insert(all.end(), assigned_.begin(), assigned_.end());
  return all;
}

std::unique_ptr<RemoteKv> ShardPool::remote_for(int64_t context) const {
  std::vector<std::shared_ptr<ShardLink>> all = links();
  if (all.empty() || context < settings_.min_context) return nullptr;
  return std::make_unique<ShardedKv>(std::move(all), config_, settings_.segment, settings_.timeout);
}

RemoteKvFactory ShardPool::factory() const {
  return [this](int64_t context) { return remote_for(context); };
}

}  // namespace tandem
