#include "shards/shard_pool.h"

#include <sstream>

#include "observability/log.h"
#include "transport/channel.h"

namespace tandem {

ShardPool::ShardPool(std::vector<std::shared_ptr<ShardLink>> fixed, const ModelConfig& config,
                     ShardPoolSettings settings)
    : fixed_(std::move(fixed)), config_(config), settings_(settings) {}

void ShardPool::use_data_keys(const CurveKeyPair& keys) {
  std::lock_guard lock(mutex_);
  data_keys_ = keys;
}

void ShardPool::assign(const std::string& endpoints) {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<ShardLink>> links;
  std::vector<std::string> entries;
  std::stringstream list(endpoints);
  for (std::string entry; std::getline(list, entry, ',');) {
    if (entry.empty()) continue;
    std::shared_ptr<ShardLink> link;
    for (size_t i = 0; i < assigned_.size(); ++i)
      if (assigned_entries_[i] == entry && !assigned_[i]->failed()) link = assigned_[i];
    if (!link) {
      const size_t space = entry.find(' ');
      const std::string endpoint = entry.substr(0, space);
      link = std::make_shared<ShardLink>(space == std::string::npos
                                             ? zmq_channel_connect(endpoint)
                                             : zmq_channel_connect_curve(endpoint, data_keys_, entry.substr(space + 1)),
                                         endpoint);
    }
    links.push_back(std::move(link));
    entries.push_back(entry);
  }
  assigned_ = std::move(links);
  assigned_entries_ = std::move(entries);
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
