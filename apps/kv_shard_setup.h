#pragma once
// The KV shard flags shared by generate, serve and the verifier node:
// --shards N runs N shards in this process, --kv-shards connects to shard nodes
// (tandem node --role shard), and a verifier node also takes the shards its
// scheduler assigns; either way each request's committed attention segments
// leave the verifier's memory (sequence parallelism).
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/remote_kv.h"
#include "shards/local_kv_shards.h"
#include "shards/shard_pool.h"

namespace tandem {

class Flags;

/// Adds --segment, --shards, --kv-shards, --shard-timeout-ms and --shard-min-context.
void add_kv_shard_flags(Flags& f);

/// The --segment flag, checked (1 to 65536 positions).
int attention_segment(const Flags& flags);

/// The shards the flags ask for, and the per-request remotes over them.
struct KvShardSetup {
  std::unique_ptr<LocalKvShards> local;  // --shards
  std::unique_ptr<ShardPool> pool;       // every shard, local, named or assigned
  std::string description;               // for the start-up line ('' for no shards)
};

/// Each shard for /health: its name, whether it was lost, and what an in-process one holds.
nlohmann::json kv_shards_health(const KvShardSetup& setup);

/// Sets up the shards for a target with attention segments of `segment` positions.
KvShardSetup kv_shards_from_flags(const Flags& flags, const ModelConfig& config, int segment);

}  // namespace tandem
