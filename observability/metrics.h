#pragma once
// Every metric a tandem process exports (Prometheus text format on /metrics), in one
// registry per process. Each role records what it sees: the scheduler requests and
// latencies, the verifier speculation, batches and KV cache, the drafter its busy and
// idle time, the data channels their traffic. Series of a fixed label set (outcomes,
// modes, depths) exist from the start at zero, so dashboards and alerts see them.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>

namespace tandem {

/// Outcomes a request can end with: "finished" or an ErrorCode name in lower case.
inline constexpr const char* kRequestOutcomes[] = {"finished",  "invalid_argument", "overloaded", "deadline_exceeded",
                                                   "cancelled", "malformed",        "internal",   "unavailable"};
/// Speculation modes, as labels.
inline constexpr const char* kModeLabels[] = {"ar", "chain", "tree", "pearl", "lookup", "recycle", "auto"};
/// Tree depths counted one by one; deeper drafts count under the last.
inline constexpr int kMaxDepthLabel = 8;

/// The process's metrics.
class Metrics {
  std::shared_ptr<prometheus::Registry> registry_;  // first: every member below lives in it

 public:
  Metrics();

  /// The text exposition of every metric, process resources included.
  std::string scrape() const;

  // Scheduler: requests and latencies.
  prometheus::Counter& requests(const std::string& outcome);  // tandem_requests_total{outcome}
  prometheus::Gauge& queue_depth;                             // requests waiting or running
  prometheus::Gauge& queue_limit;                             // requests a verifier holds before OVERLOADED
  prometheus::Histogram& time_to_first_token;                 // seconds
  prometheus::Histogram& time_per_output_token;               // seconds
  prometheus::Histogram& request_duration;                    // end to end, seconds
  prometheus::Counter& generated_tokens;
  prometheus::Counter& prompt_tokens;
  prometheus::Gauge& nodes(const std::string& role);  // tandem_cluster_nodes{role}

  // Verifier: speculation, batches, KV cache.
  /// Records one verifier pass of a request: `depth` levels drafted, `drafted` tokens, `accepted` kept.
  void pass(const std::string& mode, int depth, int64_t drafted, int64_t accepted);
  /// tandem_auto_passes_total{drafter}: passes of requests in mode auto, by what drafted them ("ar": nothing).
  prometheus::Counter& auto_passes(const std::string& drafter);
  prometheus::Histogram& batch_requests;         // requests per target forward
  prometheus::Histogram& batch_tokens;           // tokens per target forward
  prometheus::Gauge& kv_cache_used;              // bytes
  prometheus::Gauge& kv_cache_capacity;          // bytes
  prometheus::Counter& verifier_busy;            // seconds in target forwards
  prometheus::Counter& verifier_idle;            // seconds waiting for drafts (what PEARL removes)
  prometheus::Counter& drafter_busy;             // seconds drafting
  prometheus::Counter& drafter_idle;             // seconds a drafter waited for the verifier
  prometheus::Counter& prefix_cache_hits;        // prompts that read their start from the prefix cache
  prometheus::Counter& prefix_cache_hit_tokens;  // prompt tokens read from it instead of computed
  prometheus::Counter& prefix_cache_evictions;   // cached prompts dropped for room
  prometheus::Gauge& prefix_cache_bytes;         // keys and values it holds
  prometheus::Gauge& prefix_cache_budget;        // the most it may hold (--prefix-cache-bytes)
  prometheus::Gauge& auto_step_seconds;          // auto's latest measure of a plain pass alone
  /// tandem_auto_cost_scale{drafter}: what drafting with it measurably costs over what
  /// auto's model says (1: as the model says; PassTimes::scale).
  prometheus::Gauge& auto_cost_scale(const std::string& drafter);

  // Data channels.
  prometheus::Counter& channel_bytes(const std::string& channel, const std::string& direction);
  prometheus::Histogram& channel_latency(const std::string& channel);  // request-reply round trip, seconds
  // Links: the scheduler's pairs by the link chosen, and a verifier's drafter link now (1 for
  // the one in use, 0 for the other), by link ("nccl", "zeromq").
  prometheus::Gauge& pairs(const std::string& link);
  prometheus::Gauge& drafter_link(const std::string& link);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Gauge>& nodes_;
  prometheus::Family<prometheus::Counter>& drafted_;
  prometheus::Family<prometheus::Counter>& accepted_;
  prometheus::Family<prometheus::Histogram>& accepted_per_pass_;
  prometheus::Family<prometheus::Counter>& depth_proposed_;
  prometheus::Family<prometheus::Counter>& depth_accepted_;
  prometheus::Family<prometheus::Counter>& auto_passes_;
  prometheus::Family<prometheus::Gauge>& auto_cost_scale_;
  prometheus::Family<prometheus::Counter>& channel_bytes_;
  prometheus::Family<prometheus::Histogram>& channel_latency_;
  prometheus::Family<prometheus::Gauge>& pairs_;
  prometheus::Family<prometheus::Gauge>& drafter_link_;

 public:  // declared last: initialized after the families above
  // KV shard (sequence parallelism): what the shards of this process hold.
  prometheus::Gauge& kv_shard_requests;      // requests with segments here
  prometheus::Gauge& kv_shard_segments;      // segments held
  prometheus::Gauge& kv_shard_bytes;         // keys and values held, bytes
  prometheus::Histogram& kv_shard_partials;  // seconds to compute one attend's partials
};

/// This process's metrics.
Metrics& metrics();

/// Seconds since `start` on the steady clock, as a double.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace tandem
