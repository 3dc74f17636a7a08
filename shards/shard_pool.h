#pragma once
// The KV shards a verifier spreads its requests over: fixed ones (in-process,
// or named on the command line) and the ones the scheduler assigns, which can
// change at any moment. A request keeps the set it started with; the next
// request takes the set of the moment. Requests needing fewer positions than
// `min_context` stay whole on the verifier.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/remote_kv.h"
#include "security/curve.h"
#include "shards/sharded_kv.h"

namespace tandem {

struct ShardPoolSettings {
  int segment = 1024;  // positions per attention segment
  std::chrono::milliseconds timeout{10000};
  int64_t min_context = 0;  // requests reaching fewer positions keep their cache on the verifier
};

class ShardPool {
 public:
  ShardPool(std::vector<std::shared_ptr<ShardLink>> fixed, const ModelConfig& config, ShardPoolSettings settings);

  /// Replaces the scheduler's shards by those in `endpoints` (comma-separated "ENDPOINT" or
  /// "ENDPOINT KEY", as the scheduler sends them; with the shard's CURVE public key the link
  /// speaks CURVE with this pool's data keys); a link still open to one of them is kept unless
  /// it was lost.
  void assign(const std::string& endpoints);
  /// The key pair links to CURVE shards use (the verifier's: its public half is what the
  /// shards admit).
  void use_data_keys(const CurveKeyPair& keys);
  /// Every shard now: the fixed ones first.
  std::vector<std::shared_ptr<ShardLink>> links() const;
  /// A remote over the shards not lost, for a request reaching `context` positions; null
  /// when there are no shards or the request is shorter than min_context. Throws
  /// std::runtime_error when there are shards but every one is lost.
  std::unique_ptr<RemoteKv> remote_for(int64_t context) const;
  /// remote_for as a GenerationOptions::kv_remote (this pool must outlive it).
  RemoteKvFactory factory() const;

 private:
  std::vector<std::shared_ptr<ShardLink>> fixed_;
  ModelConfig config_;
  ShardPoolSettings settings_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<ShardLink>> assigned_;
  std::vector<std::string> assigned_entries_;  // what the scheduler named each of assigned_ by
  CurveKeyPair data_keys_;
};

}  // namespace tandem
