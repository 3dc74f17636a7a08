#include "apps/kv_shard_setup.h"

#include <chrono>

#include "apps/flags.h"
#include "model/transformer.h"
#include "transport/channel.h"

namespace tandem {

void add_kv_shard_flags(Flags& f) {
  f.add("segment", std::to_string(kAttentionSegment),
        "positions per attention segment: partials merge in this fixed grouping, and a KV shard holds whole "
        "segments (the output depends on it, never on the shards)");
  f.add("shards", "0",
        "KV shards run in this process that hold each request's committed attention segments (sequence "
        "parallelism); 0: the verifier holds them all");
  f.add("kv-shards", "",
        "comma-separated ZeroMQ endpoints of shard nodes (tandem node --role shard) to hold each request's "
        "committed attention segments, segment s on shard s mod N");
  f.add("shard-timeout-ms", "10000", "a KV shard that takes longer than this to answer fails the request");
  f.add("shard-min-context", "0",
        "only requests that may reach this many positions (prompt plus tokens asked for) spread over the KV "
        "shards; shorter ones keep their cache on the verifier");
}

int attention_segment(const Flags& flags) {
  const long long segment = flags.get_int("segment");
  if (segment < 1 || segment > (1 << 16)) throw UsageError("--segment must be between 1 and 65536");
  return int(segment);
}

nlohmann::json kv_shards_health(const KvShardSetup& setup) {
  nlohmann::json shards = nlohmann::json::array();
  const std::vector<KvShardStats> local = setup.local ? setup.local->stats() : std::vector<KvShardStats>{};
  const auto links = setup.pool->links();
  for (size_t k = 0; k < links.size(); ++k) {
    nlohmann::json shard = {{"name", links[k]->name()}, {"lost", links[k]->failed()}};
    if (k < local.size())  // in-process shards come first
      shard.update({{"requests", local[k].requests},
                    {"segments", local[k].segments},
                    {"kv_bytes", local[k].bytes},
                    {"last_partial_ms", local[k].last_partial_ms}});
    shards.push_back(shard);
  }
  return shards;
}

KvShardSetup kv_shards_from_flags(const Flags& flags, const ModelConfig& config, int segment) {
  KvShardSetup setup;
  const long long local = flags.get_int("shards");
  if (local < 0 || local > 64) throw UsageError("--shards must be between 0 and 64");
  std::vector<std::shared_ptr<ShardLink>> links;
  if (local > 0) {
    setup.local = std::make_unique<LocalKvShards>(int(local), 1);
    links = setup.local->links();
  }
  for (const std::string& endpoint : flags.get_list("kv-shards"))
    links.push_back(std::make_shared<ShardLink>(zmq_channel_connect(endpoint), endpoint));
  ShardPoolSettings settings;
  settings.segment = segment;
  settings.timeout = std::chrono::milliseconds(flags.get_int("shard-timeout-ms"));
  if (settings.timeout.count() <= 0) throw UsageError("--shard-timeout-ms must be positive");
  settings.min_context = flags.get_int("shard-min-context");
  if (settings.min_context < 0) throw UsageError("--shard-min-context must not be negative");
  if (!links.empty())
    setup.description =
        std::to_string(links.size()) + " KV shard(s) (" + std::to_string(local) + " in-process), segments of " +
        std::to_string(segment) + " positions" +
        (settings.min_context > 0 ? ", for requests of " + std::to_string(settings.min_context) + " positions or more"
                                  : "");
  setup.pool = std::make_unique<ShardPool>(std::move(links), config, settings);
  return setup;
}

}  // namespace tandem
