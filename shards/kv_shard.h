#pragma once
// A KV shard: keeps whole attention segments of requests' committed keys and
// values for verifiers, and answers each layer's attention partials over them
// (proto/shard.proto). It needs no model, only each request's shape. Every size
// a peer sends is checked against that shape and against the shard's memory
// budget before anything is allocated; a bad message gets an error reply or is
// logged and dropped, and never touches another request's segments.
// Requests are kept per peer (each verifier numbers its own), and a request no
// message has touched for `idle_release` is freed: its verifier died without
// releasing it.
//
//   verifier                         shard
//     open(shape)  ───────────────▶  request state (no reply)
//     store(segment) ─────────────▶  segment kept (no reply; a failure is
//                                    reported at the next attend)
//     attend(layer, queries) ─────▶  partials of the held segments ──▶ reply
//     adopt(from, segments) ──────▶  shares another request's first segments ──▶ reply
//     release ────────────────────▶  segments freed (those another request shares stay)
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/thread_pool.h"
#include "proto/shard.pb.h"
#include "transport/channel.h"

namespace tandem {

/// What a shard accepts.
struct KvShardLimits {
  size_t max_bytes = size_t(8) << 30;          // keys and values held, all requests together
  int max_requests = 256;                      // open requests
  int64_t max_queries = 4096;                  // queries in one attend
  size_t max_reply_bytes = size_t(256) << 20;  // partials in one reply
  std::chrono::milliseconds idle_release{std::chrono::minutes(5)};
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

  /// Handles one frame from verifier `peer`; returns the reply to send, if the message has one.
  std::optional<std::string> handle(const std::string& peer, std::string_view frame);
  /// Serves the one verifier behind `channel` until `stop` is set.
  void serve(Channel& channel, const std::atomic<bool>& stop);
  /// Serves every verifier that connects to `channel` until `stop` is set.
  void serve(PeerChannel& channel, const std::atomic<bool>& stop);
  /// Frees the requests idle for longer than the limit; returns how many.
  int release_idle();
  KvShardStats stats() const;

 private:
  struct Segment {
    std::vector<float> keys, values;  // [layer][position][kv_dim]
  };
  struct Held {
    wire::ShardOpen shape;
    std::map<int64_t, std::shared_ptr<const Segment>> segments;  // by segment index; adopted ones are shared
    std::string error;                                           // a failed store, reported at the next attend
    std::chrono::steady_clock::time_point last_used;
  };
  using Key = std::pair<std::string, uint64_t>;  // (peer, the peer's request id)

  void open(const std::string& peer, const wire::ShardOpen& m);
  void store(const std::string& peer, const wire::ShardStore& m);
  wire::ShardReply attend(const std::string& peer, const wire::ShardAttend& m);
  wire::ShardReply adopt(const std::string& peer, const wire::ShardAdopt& m);
  void release(const Key& key);
  void free_locked(std::map<Key, Held>::iterator it);
  void reject(const std::string& why);
  // Runs release_idle() at most once a second.
  void release_idle_now_and_then();

  KvShardLimits limits_;
  ThreadPool pool_;
  mutable std::mutex mutex_;  // guards everything below
  std::map<Key, Held> held_;
  KvShardStats stats_;
  std::chrono::steady_clock::time_point last_idle_check_;
};

}  // namespace tandem
