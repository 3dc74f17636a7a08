#pragma once
// The verifier's side of sequence parallelism: a RemoteKv (model/remote_kv.h)
// that spreads one request's committed segments over KV shards (segment s on
// shard s mod N) and gathers their attention partials per layer, in ascending
// segment order, so the merge is the one a single node does.
//
// A ShardLink is one shard's channel, shared by every request of the verifier:
// replies are matched to their request by (request id, sequence).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "model/model.h"
#include "model/remote_kv.h"
#include "proto/shard.pb.h"
#include "transport/channel.h"

namespace tandem {

/// One shard's channel and the replies that arrived for other requests.
class ShardLink {
 public:
  ShardLink(std::unique_ptr<Channel> channel, std::string name);
  /// Sends one message; throws std::runtime_error if it cannot go.
  void send(const wire::ShardRequest& message);
  /// The reply to (request, sequence), waiting up to `timeout`; throws std::runtime_error on
  /// timeout, closure or a malformed reply.
  wire::ShardReply receive(uint64_t request_id, uint64_t sequence, std::chrono::milliseconds timeout);
  const std::string& name() const { return name_; }
  /// Marks the shard as lost: no request uses it again.
  void mark_failed() { failed_ = true; }
  bool failed() const { return failed_; }

 private:
  std::unique_ptr<Channel> channel_;
  std::string name_;
  std::mutex mutex_;
  std::map<std::pair<uint64_t, uint64_t>, wire::ShardReply> early_;  // replies for other requests
  std::atomic<bool> failed_{false};
};

/// One request's segments on the shards.
class ShardedKv : public RemoteKv {
 public:
  /// Spreads over the shards not marked failed; throws std::runtime_error if there are none.
  ShardedKv(std::vector<std::shared_ptr<ShardLink>> shards, const ModelConfig& config, int segment,
            std::chrono::milliseconds timeout);
  /// Tells the shards to drop the request's segments.
  ~ShardedKv() override;

  int segment() const override { return segment_; }
  void store(const KvCache& cache, int64_t from, int64_t to) override;
  void request(int layer, std::span<const RemoteQuery> queries) override;
  void collect(std::vector<float>& partials) override;
  bool failed() const override { return failed_; }
  std::unique_ptr<RemoteKv> replacement() override;
  /// Shares another ShardedKv's segments over the same shards (ShardAdopt, one answer per shard).
  bool adopt(const RemoteKv& from, int64_t segments) override;

 private:
  // The shard holding segment s.
  size_t owner(int64_t s) const { return size_t(s) % shards_.size(); }
  // Marks shard k lost and throws RemoteKvLost.
  [[noreturn]] void lose(size_t k, const std::string& why);

  std::vector<std::shared_ptr<ShardLink>> shards_;
  uint64_t request_id_;
  ModelConfig config_;
  int segment_;
  std::chrono::milliseconds timeout_;
  int64_t stored_ = 0;  // segments [0, stored_) are on the shards
  bool failed_ = false;
  // The outstanding request.
  uint64_t sequence_ = 0;
  int layer_ = -1;
  std::chrono::steady_clock::time_point requested_;
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // [query] (first, end)
};

}  // namespace tandem
