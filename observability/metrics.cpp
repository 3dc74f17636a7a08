#include "observability/metrics.h"

#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace tandem {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using Buckets = prometheus::Histogram::BucketBoundaries;

prometheus::MetricFamily one_value(const std::string& name, const std::string& help, prometheus::MetricType type,
                                   double value) {
  prometheus::MetricFamily family{name, help, type, {}};
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter)
    metric.counter.value = value;
  else
    metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

// Standard process metrics (the names every Prometheus dashboard knows), read from /proc.
std::vector<prometheus::MetricFamily> process_metrics() {
  std::vector<prometheus::MetricFamily> out;
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return out;
  std::istringstream fields(stat.substr(paren + 2));
  std::vector<std::string> f((std::istream_iterator<std::string>(fields)), std::istream_iterator<std::string>());
  if (f.size() < 22) return out;
  // Fields after the name, from 0: state(0) ... utime(11) stime(12) ... starttime(19) vsize(20) rss(21).
  const double ticks = double(sysconf(_SC_CLK_TCK));
  const double page = double(sysconf(_SC_PAGESIZE));
  double boot_time = 0;
  std::ifstream proc_stat("/proc/stat");
  for (std::string key; proc_stat >> key;)
    if (key == "btime") {
      proc_stat >> boot_time;
      break;
    }
  size_t fds = 0;
  std::error_code ignored;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ignored);
       it != std::filesystem::directory_iterator(); it.increment(ignored))
    ++fds;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  using prometheus::MetricType;
  out.push_back(one_value("process_cpu_seconds_total", "User and system CPU time spent in seconds.",
                          MetricType::Counter, (std::stod(f[11]) + std::stod(f[12])) / ticks));
  out.push_back(one_value("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
                          std::stod(f[21]) * page));
  out.push_back(
      one_value("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, std::stod(f[20])));
  out.push_back(one_value("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                          MetricType::Gauge, boot_time + std::stod(f[19]) / ticks));
  out.push_back(one_value("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, double(fds)));
  out.push_back(one_value("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                          double(limit.rlim_cur)));
  return out;
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      queue_depth(BuildGauge()
                      .Name("tandem_queue_depth")
                      .Help("Requests waiting or running at the scheduler.")
                      .Register(*registry_)
                      .Add({})),
      queue_limit(BuildGauge()
                      .Name("tandem_queue_limit")
                      .Help("Requests a verifier holds (waiting or running) before it answers OVERLOADED.")
                      .Register(*registry_)
                      .Add({})),
      time_to_first_token(BuildHistogram()
                              .Name("tandem_time_to_first_token_seconds")
                              .Help("Time from a request's arrival to its first generated token.")
                              .Register(*registry_)
                              .Add({}, Buckets{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120})),
      time_per_output_token(BuildHistogram()
                                .Name("tandem_time_per_output_token_seconds")
                                .Help("Decoding time per generated token after the first, per request.")
                                .Register(*registry_)
                                .Add({}, Buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2})),
      request_duration(BuildHistogram()
                           .Name("tandem_request_duration_seconds")
                           .Help("End-to-end time of a request at the scheduler, whatever its outcome.")
                           .Register(*registry_)
                           .Add({}, Buckets{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600})),
      generated_tokens(BuildCounter()
                           .Name("tandem_generated_tokens_total")
                           .Help("Tokens generated for finished requests.")
                           .Register(*registry_)
                           .Add({})),
      prompt_tokens(BuildCounter()
                        .Name("tandem_prompt_tokens_total")
                        .Help("Prompt tokens of finished requests.")
                        .Register(*registry_)
                        .Add({})),
      batch_requests(BuildHistogram()
                         .Name("tandem_batch_requests")
                         .Help("Requests sharing one target forward pass.")
                         .Register(*registry_)
                         .Add({}, Buckets{1, 2, 4, 8, 16, 32, 64})),
      batch_tokens(BuildHistogram()
                       .Name("tandem_batch_tokens")
                       .Help("Tokens in one target forward pass (prompt chunks, pending tokens and drafts).")
                       .Register(*registry_)
                       .Add({}, Buckets{1, 4, 16, 64, 128, 256, 512, 1024})),
      kv_cache_used(BuildGauge()
                        .Name("tandem_kv_cache_used_bytes")
                        .Help("Target KV cache bytes held by running requests.")
                        .Register(*registry_)
                        .Add({})),
      kv_cache_capacity(BuildGauge()
                            .Name("tandem_kv_cache_capacity_bytes")
                            .Help("Target KV cache bytes a full batch at full context would hold.")
                            .Register(*registry_)
                            .Add({})),
      verifier_busy(BuildCounter()
                        .Name("tandem_verifier_busy_seconds_total")
                        .Help("Seconds the verifier spent in target forward passes.")
                        .Register(*registry_)
                        .Add({})),
      verifier_idle(BuildCounter()
                        .Name("tandem_verifier_idle_seconds_total")
                        .Help("Seconds the verifier waited for drafts (the waiting PEARL removes).")
                        .Register(*registry_)
                        .Add({})),
      drafter_busy(BuildCounter()
                       .Name("tandem_drafter_busy_seconds_total")
                       .Help("Seconds a drafter spent drafting.")
                       .Register(*registry_)
                       .Add({})),
      drafter_idle(BuildCounter()
                       .Name("tandem_drafter_idle_seconds_total")
                       .Help("Seconds a drafter waited for the verifier.")
                       .Register(*registry_)
                       .Add({})),
      prefix_cache_hits(BuildCounter()
                            .Name("tandem_prefix_cache_hits_total")
                            .Help("Prompts that read their start from the prefix cache.")
                            .Register(*registry_)
                            .Add({})),
      prefix_cache_hit_tokens(BuildCounter()
                                  .Name("tandem_prefix_cache_hit_tokens_total")
                                  .Help("Prompt tokens read from the prefix cache instead of computed.")
                                  .Register(*registry_)
                                  .Add({})),
      prefix_cache_evictions(BuildCounter()
                                 .Name("tandem_prefix_cache_evictions_total")
                                 .Help("Cached prompts dropped from the prefix cache for room.")
                                 .Register(*registry_)
                                 .Add({})),
      prefix_cache_bytes(BuildGauge()
                             .Name("tandem_prefix_cache_bytes")
                             .Help("Keys and values the prefix cache holds, bytes.")
                             .Register(*registry_)
                             .Add({})),
      prefix_cache_budget(BuildGauge()
                              .Name("tandem_prefix_cache_budget_bytes")
                              .Help("The most the prefix cache may hold, bytes (--prefix-cache-bytes).")
                              .Register(*registry_)
                              .Add({})),
      auto_step_seconds(BuildGauge()
                            .Name("tandem_auto_step_seconds")
                            .Help("Mode auto's latest measure of a plain one-token pass alone, seconds.")
                            .Register(*registry_)
                            .Add({})),
      requests_(BuildCounter()
                    .Name("tandem_requests_total")
                    .Help("Requests ended, by outcome (finished or the error code).")
                    .Register(*registry_)),
      nodes_(BuildGauge()
                 .Name("tandem_cluster_nodes")
                 .Help("Live nodes joined to the scheduler, by role.")
                 .Register(*registry_)),
      drafted_(BuildCounter()
                   .Name("tandem_draft_tokens_total")
                   .Help("Draft tokens proposed to the verifier, by mode.")
                   .Register(*registry_)),
      accepted_(BuildCounter()
                    .Name("tandem_accepted_tokens_total")
                    .Help("Draft tokens the verifier accepted, by mode.")
                    .Register(*registry_)),
      accepted_per_pass_(BuildHistogram()
                             .Name("tandem_accepted_tokens_per_pass")
                             .Help("Draft tokens accepted in one verifier pass of one request, by mode.")
                             .Register(*registry_)),
      depth_proposed_(BuildCounter()
                          .Name("tandem_draft_depth_proposed_total")
                          .Help("Verifier passes whose draft reached this depth, by mode.")
                          .Register(*registry_)),
      depth_accepted_(BuildCounter()
                          .Name("tandem_draft_depth_accepted_total")
                          .Help("Verifier passes that accepted a draft token at this depth, by mode.")
                          .Register(*registry_)),
      auto_passes_(BuildCounter()
                       .Name("tandem_auto_passes_total")
                       .Help("Verifier passes of requests in mode auto, by the drafter auto chose (ar: none).")
                       .Register(*registry_)),
      auto_cost_scale_(BuildGauge()
                           .Name("tandem_auto_cost_scale")
                           .Help("What drafting with a drafter measurably costs over what mode auto's model says (1: "
                                 "as it says), by drafter.")
                           .Register(*registry_)),
      channel_bytes_(BuildCounter()
                         .Name("tandem_channel_bytes_total")
                         .Help("Bytes through a channel, by channel and direction (sent, received).")
                         .Register(*registry_)),
      channel_latency_(BuildHistogram()
                           .Name("tandem_channel_message_latency_seconds")
                           .Help("Request-to-reply time of messages on a channel.")
                           .Register(*registry_)),
      pairs_(BuildGauge()
                 .Name("tandem_pairs")
                 .Help("Verifier-drafter pairs the scheduler formed, by the link chosen (nccl, zeromq).")
                 .Register(*registry_)),
      drafter_link_(BuildGauge()
                        .Name("tandem_drafter_link")
                        .Help("The link this verifier reaches its drafter over: 1 for the one in use.")
                        .Register(*registry_)),
      kv_shard_requests(BuildGauge()
                            .Name("tandem_kv_shard_requests")
                            .Help("Requests whose attention segments this process's KV shards hold.")
                            .Register(*registry_)
                            .Add({})),
      kv_shard_segments(BuildGauge()
                            .Name("tandem_kv_shard_segments")
                            .Help("Attention segments this process's KV shards hold.")
                            .Register(*registry_)
                            .Add({})),
      kv_shard_bytes(BuildGauge()
                         .Name("tandem_kv_shard_bytes")
                         .Help("Key and value bytes this process's KV shards hold.")
                         .Register(*registry_)
                         .Add({})),
      kv_shard_partials(BuildHistogram()
                            .Name("tandem_kv_shard_partial_seconds")
                            .Help("Time a KV shard takes to compute one layer's attention partials for a verifier.")
                            .Register(*registry_)
                            .Add({}, Buckets{0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1})) {
  for (const char* outcome : kRequestOutcomes) requests(outcome);
  for (const char* role : {"verifier", "drafter", "shard"}) nodes(role);
  for (const char* mode : kModeLabels) pass(mode, 0, 0, 0);
  for (const char* channel : {"clients", "drafter", "kv_shard"}) {
    channel_bytes(channel, "sent");
    channel_bytes(channel, "received");
  }
  channel_latency("drafter");
  channel_latency("kv_shard");
  for (const char* link : {"nccl", "zeromq"}) {
    pairs(link);
    drafter_link(link);
  }
}

prometheus::Counter& Metrics::requests(const std::string& outcome) { return requests_.Add({{"outcome", outcome}}); }

prometheus::Gauge& Metrics::nodes(const std::string& role) { return nodes_.Add({{"role", role}}); }
prometheus::Gauge& Metrics::pairs(const std::string& link) { return pairs_.Add({{"link", link}}); }
prometheus::Gauge& Metrics::drafter_link(const std::string& link) { return drafter_link_.Add({{"link", link}}); }

void Metrics::pass(const std::string& mode, int depth, int64_t drafted, int64_t accepted) {
  drafted_.Add({{"mode", mode}}).Increment(double(drafted));
  accepted_.Add({{"mode", mode}}).Increment(double(accepted));
  auto& per_pass = accepted_per_pass_.Add({{"mode", mode}}, Buckets{0, 1, 2, 3, 4, 5, 6, 8, 12});
  if (depth > 0) per_pass.Observe(double(accepted));  // passes that drafted something
  for (int d = 1; d <= kMaxDepthLabel; ++d) {
    auto& proposed = depth_proposed_.Add({{"mode", mode}, {"depth", std::to_string(d)}});
    auto& kept = depth_accepted_.Add({{"mode", mode}, {"depth", std::to_string(d)}});
    if (d <= depth) proposed.Increment();
    if (d <= accepted) kept.Increment();
  }
}

prometheus::Counter& Metrics::auto_passes(const std::string& drafter) {
  return auto_passes_.Add({{"drafter", drafter}});
}

prometheus::Gauge& Metrics::auto_cost_scale(const std::string& drafter) {
  return auto_cost_scale_.Add({{"drafter", drafter}});
}

prometheus::Counter& Metrics::channel_bytes(const std::string& channel, const std::string& direction) {
  return channel_bytes_.Add({{"channel", channel}, {"direction", direction}});
}

prometheus::Histogram& Metrics::channel_latency(const std::string& channel) {
  return channel_latency_.Add({{"channel", channel}},
                              Buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5});
}

std::string Metrics::scrape() const {
  auto families = registry_->Collect();
  for (auto& family : process_metrics()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

Metrics& metrics() {
  static Metrics instance;
  return instance;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tandem
