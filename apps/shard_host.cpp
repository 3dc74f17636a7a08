// `tandem node --role shard`: a KV shard. It holds whole attention segments of verifiers'
// requests and answers their attention partials (sequence parallelism); no model.
#include <iostream>

#include "apps/client_endpoints.h"
#include "apps/commands.h"
#include "apps/node_roles.h"
#include "server/ops_http.h"
#include "shards/kv_shard.h"

namespace tandem {

int run_shard(const Flags& flags, const std::string& name, const ClusterTls& tls) {
  KvShardLimits limits;
  limits.max_bytes = size_t(std::max<long long>(0, flags.get_int("max-kv-bytes")));
  limits.idle_release = std::chrono::seconds(std::max<long long>(1, flags.get_int("idle-release-s")));
  KvShard shard(limits, int(flags.get_int("threads")));
  const bool curve = data_channel_curve(flags, tls, "verifiers (KV shard data)");  // admits every verifier
  const int64_t max_frame = std::max<long long>(1024, flags.get_int("max-frame-bytes"));
  const DataChannel data = listen_for_verifiers(flags, curve, max_frame);
  PeerChannel* channel = data.listener.channel.get();
  auto health = [&] {
    const KvShardStats s = shard.stats();
    return nlohmann::json{{"requests", s.requests},
                          {"segments", s.segments},
                          {"kv_bytes", s.bytes},
                          {"max_kv_bytes", limits.max_bytes},
                          {"last_partial_ms", s.last_partial_ms},
                          {"rejected_messages", s.rejected}};
  };
  auto joined = std::make_shared<std::atomic<bool>>(false);
  OpsHttp ops(http_address(flags, "shard"), {[&] {
                                               nlohmann::json h = health();
                                               h["joined"] = bool(*joined);
                                               return h;
                                             },
                                             [&] { return bool(*joined) || flags.get("scheduler").empty(); }});
  std::cout << "tandem node: shard '" << name << "', data on " << data.endpoint << "; metrics on " << ops.address()
            << (flags.get("scheduler").empty() ? std::string() : "; joining " + flags.get("scheduler")) << std::endl;
  write_endpoint_file(flags.get("endpoint-file"), {data.endpoint, ops.address(), data.curve_key()});
  ServingThread serving([&](const std::atomic<bool>& stop) { shard.serve(*channel, stop); });
  NodeAgentSettings s;
  s.role = "shard";
  s.name = name;
  data.describe(flags, s);
  s.load = [&shard] {
    const KvShardStats stats = shard.stats();
    return std::pair<int64_t, int64_t>(stats.requests, int64_t(stats.bytes));
  };
  s.joined = joined;
  // Draining: verifiers get no new requests onto it; those it holds get the drain timeout to end.
  serve_joined(flags, tls, std::move(s), [&shard] { return shard.stats().requests == 0; });
  serving.stop();
  std::cout << "tandem node: shard stopping" << std::endl;
  return 0;
}

}  // namespace tandem
