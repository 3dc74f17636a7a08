#pragma once
// A KV shard: keeps whole attention segments of requests' committed keys and
// values for verifiers, and answers each layer's attention partials over them
// (proto/shard.proto). It needs no model, only each request's shape. Every size
// a peer sends is checked against that shape and against the shard's memory
// budget before anything is allocated; a bad message gets an error reply or is
// logged and dropped, and never touches another request's segments.
//
//   verifier                         shard
//     open(shape)  ───────────────▶  request state (no reply)
//     store(segment) ─────────────▶  segment kept (no reply; a failure is
//                                    reported at the next attend)
//     attend(layer, queries) ─────▶  partials of the held segments ──▶ reply
//     release ────────────────────▶  segments freed
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/channel.h"
#include "kernels/thread_pool.h"
#include "proto/shard.pb.h"

namespace tandem {

/// What a shard accepts.
struct KvShardLimits {
  size_t max_bytes = size_t(8) << 30;          // keys and values held, all requests together
  int max_requests = 256;                      // open requests
  int64_t max_queries = 4096;                  // queries in one attend
  size_t max_reply_bytes = size_t(256) << 20;  // partials in one reply
};

/// What a shard holds now, for /health and the metrics.
struct KvShardStats {
  int64_t requests = 0;
  int64_t segments = 0;
  size_t bytes = 0;
  double last_partial_ms = 0.0;  // time to compute the last attend's partials
  int64_t rejected = 0;          // messages refused (malformed, unknown request, over budget)
};

class KvShard {
 public:
  KvShard(KvShardLimits limits, int threads);

  /// Handles one frame from a verifier; returns the reply to send, if the message has one.
  std::optional<std::string> handle(std::string_view frame);
  /// Serves `channel` until `stop` is set or the channel closes.
  void serve(Channel& channel, const std::atomic<bool>& stop);
  KvShardStats stats() const;

 private:
  struct Segment {
    std::vector<float> keys, values;  // [layer][position][kv_dim]
  };
  struct Held {
    wire::ShardOpen shape;
    std::map<int64_t, Segment> segments;  // by segment index
    std::string error;                    // a failed store, reported at the next attend
  };

  void open(const wire::ShardOpen& m);
  void store(const wire::ShardStore& m);
  wire::ShardReply attend(const wire::ShardAttend& m);
  void release(uint64_t request_id);
  void reject(const std::string& why);

  KvShardLimits limits_;
  ThreadPool pool_;
  mutable std::mutex mutex_;  // guards everything below
  std::map<uint64_t, Held> held_;
  KvShardStats stats_;
};

}  // namespace tandem
