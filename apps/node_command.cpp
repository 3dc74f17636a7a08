// tandem node: one role of a multi-process cluster.
//   scheduler: the client endpoints (ZeroMQ, HTTP) and the scheduler actor, published
//              on --control for the other nodes to join;
//   verifier:  the target model and request worker; joins --scheduler;
//   drafter:   a draft model serving token trees over a ZeroMQ data channel to the
//              verifier the scheduler pairs it with; joins --scheduler.
//   shard:     a KV shard: holds whole attention segments of verifiers' requests
//              and answers their attention partials (sequence parallelism); joins
//              --scheduler, which hands it to every verifier (or a verifier names
//              it in --kv-shards). No model.
// Verifiers, drafters and shards reconnect when the scheduler restarts.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "actors/messages.h"
#include "actors/node_agent.h"
#include "apps/bind_policy.h"
#include "apps/cluster_tls_flags.h"
#include "apps/commands.h"
#include "apps/scheduler_host.h"
#include "apps/verifier_host.h"
#include "cluster/control_plane.h"
#include "cluster/log.h"
#include "cluster/peer_set.h"
#include "model/fingerprint.h"
#include "runner/kv_shard.h"
#include "runner/remote_drafter.h"
#include "server/ops_http.h"

namespace tandem {
namespace {

volatile std::sig_atomic_t stop_signal = 0;
void on_signal(int signal) { stop_signal = signal; }

Flags node_flags() {
  Flags f("tandem node",
          "Runs one role of a multi-process cluster until SIGINT or SIGTERM: scheduler (client endpoints, admits\n"
          "requests, tracks the nodes), verifier (target model), drafter (draft model) or shard (holds verifiers'\n"
          "KV segments). The others join the scheduler at --scheduler; it pairs each verifier with a free drafter\n"
          "and gives every verifier the list of shards.");
  f.add("role", "", "scheduler, verifier, drafter or shard");
  f.add("name", "", "verifier, drafter, shard: this node's name in the cluster (default: role-host-pid)");
  f.add("scheduler", "127.0.0.1:5700",
        "verifier, drafter, shard: HOST:PORT of the scheduler's control endpoint ('' : join none)");
  f.add("control", "127.0.0.1:5700", "scheduler: HOST:PORT where nodes join (port 0: any free port)");
  f.add("listen", "tcp://127.0.0.1:5555",
        "scheduler: ZeroMQ endpoint for clients; drafter, shard: ZeroMQ data endpoint for verifiers (port 0: any)");
  f.add("max-kv-bytes", "8589934592", "shard: most bytes of keys and values it holds, all requests together");
  f.add("max-frame-bytes", "1073741824",
        "shard: largest message accepted (a segment's keys and values, all layers); a peer sending more is dropped");
  f.add("idle-release-s", "300", "shard: a request no verifier has touched this long is freed");
  f.add("http", "",
        "HOST:PORT of this node's HTTP port: /metrics, /health, /ready, and on the scheduler the OpenAI-compatible "
        "API (port 0: any free port; default: 127.0.0.1:8000 for the scheduler, 127.0.0.1:0 for the others)");
  f.add("endpoint-file", "",
        "write the bound addresses to this file once listening (scheduler: ZeroMQ, HTTP, control; drafter and "
        "shard: data, HTTP, the data channel's CURVE public key; verifier: its name and HTTP, once its model is "
        "loaded)");
  f.add("node-timeout-ms", "3000", "scheduler: a node silent this long is dropped");
  f.add("drain-timeout-ms", "30000",
        "on SIGTERM or SIGINT: scheduler, verifier and shard take no new requests and give those running this long "
        "to finish");
  f.add("heartbeat-ms", "500", "verifier, drafter, shard: how often to tell the scheduler this node is alive");
  f.add("drafter-mode", "chain", "drafter: chain or tree");
  f.add("advertise", "",
        "drafter, shard: the data endpoint verifiers should connect to, when --listen binds 0.0.0.0 (default: the "
        "bound one)");
  add_client_endpoint_flags(f);
  add_cluster_tls_flags(f);
  add_verifier_flags(f, "none");
  return f;
}

// Whether a drafter's or shard's data channel (`what`) speaks CURVE: it does, with a key pair
// made afresh, when a scheduler hands out the keys (over the control plane, which the
// cluster's certificates protect); without a scheduler it is plain ZeroMQ. A reachable
// --listen those keys do not protect is refused (apps/bind_policy.h).
bool data_channel_curve(const Flags& flags, const ClusterTls& tls, const std::string& what) {
  const bool curve = !flags.get("scheduler").empty();
  check_exposure(flags, what, flags.get("listen"), curve && tls.enabled(),
                 curve ? "--cluster-ca, --cluster-cert and --cluster-key (the data channel's keys travel on it)" : "");
  return curve;
}

// What a drafter or shard does with the scheduler's (admit, "key,key,...") message: its data
// channel admits those verifiers' CURVE keys from now on, and no one else.
std::function<void(const std::string&)> admit_keys(ZapHandler& gate) {
  return [&gate](const std::string& keys) {
    std::map<std::string, std::string> admitted;
    std::stringstream list(keys);
    for (std::string key; std::getline(list, key, ',');)
      if (!key.empty()) admitted[key] = "verifier " + key.substr(0, 8);
    log_event(LogLevel::info, "data_keys_admitted", {{"verifiers", int64_t(admitted.size())}});
    gate.admit(std::move(admitted));
  };
}

// A data channel's serving loop on its own thread, stopped and joined however the scope ends.
class ServingThread {
 public:
  explicit ServingThread(std::function<void(const std::atomic<bool>&)> serve)
      : thread_([this, serve = std::move(serve)] { serve(stop_); }) {}
  ~ServingThread() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string http_address(const Flags& flags, const std::string& role) {
  if (!flags.get("http").empty()) return flags.get("http");
  return role == "scheduler" ? "127.0.0.1:8000" : "127.0.0.1:0";
}

std::string default_name(const std::string& role) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return role + "-" + host + "-" + std::to_string(getpid());
}

// Joins the scheduler with `join` until a stop signal, joining again whenever the scheduler is lost.
template <typename Join>
void stay_joined(caf::actor_system& system, const std::string& address, Join join) {
  while (!stop_signal) {
    caf::actor scheduler;
    try {
      scheduler = connect_actor(system, address);
    } catch (const std::runtime_error& e) {
      std::cerr << "tandem node: " << e.what() << "; retrying" << std::endl;
      for (int i = 0; i < 10 && !stop_signal; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    auto lost = std::make_shared<std::atomic<bool>>(false);
    join(scheduler, lost);
    while (!stop_signal && !*lost) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (node_was_refused())
      throw std::runtime_error("the scheduler at " + address + " refused this node (see the log)");
  }
}

// With the cluster's certificates, each join proves that this node's certificate binds its role and name.
JoinProver prover(const ClusterTls& tls) {
  return tls.enabled() ? certificate_prover(tls.cert_file, tls.key_file) : nullptr;
}

// A UsageError unless the certificate lets this node join as `role` under `name` (the
// scheduler would refuse it; better to say so before any model loads).
void check_certificate_binds(const ClusterTls& tls, const std::string& role, const std::string& name) {
  if (!tls.enabled() || (role != "verifier" && role != "drafter" && role != "shard")) return;
  const std::vector<std::string> bindings = certificate_node_bindings(tls.cert_file);
  if (node_bindings_allow(bindings, role, name)) return;
  std::string list;
  for (const std::string& b : bindings) list += (list.empty() ? "" : ", ") + b;
  throw UsageError(tls.cert_file + " does not let this node join as " + role + "/" + name + " (it binds " +
                   (list.empty() ? std::string("no node") : list) + "); make one with tandem keys cert --node " +
                   role + "/" + name);
}

// Until a stop signal: with --scheduler, joins it as `s` describes (again whenever it is
// lost); then drains (the scheduler sends no new work) until `idle` or --drain-timeout-ms.
void serve_joined(const Flags& flags, const ClusterTls& tls, NodeAgentSettings s, const std::function<bool()>& idle) {
  if (flags.get("scheduler").empty()) {
    while (!stop_signal) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  ControlPlane control(tls);
  caf::actor agent;
  s.heartbeat_ms = flags.get_int("heartbeat-ms");
  s.prove = prover(tls);
  stay_joined(control.system, flags.get("scheduler"), [&](const caf::actor& scheduler, auto lost) {
    if (agent) caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
    s.scheduler_lost = lost;
    agent = spawn_node_agent(control.system, scheduler, s);
  });
  if (!agent) return;
  caf::anon_send(agent, drain_atom::value);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(flags.get_int("drain-timeout-ms"));
  while (!idle() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  caf::anon_send_exit(agent, caf::exit_reason::user_shutdown);
}

int run_scheduler(const Flags& flags, const ClusterTls& tls) {
  const ClientEndpointSettings endpoint_settings = client_endpoint_settings(flags);  // bad keys fail before loading
  check_scheduler_exposure(flags, flags.get("listen"), http_address(flags, "scheduler"), flags.get("control"),
                           endpoint_settings);
  // The scheduler tokenizes nothing itself; the HTTP gateway needs the target's tokenizer and name,
  // and joining nodes must hold the same model (verifiers) or vocabulary (drafters).
  auto model = Model::load(resolve_model_path(flags.get("model")));
  ControlPlane control(tls);
  SchedulerHost scheduler(control.system, flags.get_int("node-timeout-ms"), *model, tls);
  const std::string control_address = scheduler.publish(flags.get("control"));
  scheduler.open(*model, flags.get("listen"), http_address(flags, "scheduler"), endpoint_settings);
  ClientEndpoints& endpoints = scheduler.endpoints();
  endpoints.add_health([&scheduler] { return nlohmann::json{{"pairs", scheduler.pairs()}}; });
  std::cout << "tandem node: scheduler for " << model->config().name << "\n"
            << "  nodes join at: " << control_address << "\n"
            << "  zeromq clients: " << endpoints.zmq_endpoint() << "\n"
            << "  http (OpenAI-compatible, /metrics, /health, /ready): " << endpoints.http_address() << std::endl;
  write_endpoint_file(flags.get("endpoint-file"),
                      {endpoints.zmq_endpoint(), endpoints.http_address(), control_address});
  endpoints.serve_until(stop_signal);
  std::cout << "tandem node: scheduler draining" << std::endl;
  scheduler.shutdown(std::chrono::milliseconds(flags.get_int("drain-timeout-ms")));
  return 0;
}

int run_verifier(const Flags& flags, const std::string& name, const ClusterTls& tls) {
  ControlPlane control(tls);
  VerifierHost verifier(flags, control.system, name);
  OpsHttp ops(http_address(flags, "verifier"), {[&] {
                                                  return nlohmann::json{{"live_requests", verifier.live_requests()},
                                                                        {"kv_cache_bytes", verifier.kv_cache_bytes()},
                                                                        {"kv_shards", verifier.kv_shards()},
                                                                        {"drafter_link", verifier.drafter_link()},
                                                                        {"joined", verifier.joined()}};
                                                },
                                                [&] { return verifier.joined(); }});
  std::cout << "tandem node: verifier '" << name << "': " << verifier.describe() << "; joining "
            << flags.get("scheduler") << "; metrics on " << ops.address() << std::endl;
  write_endpoint_file(flags.get("endpoint-file"), {name, ops.address()});
  stay_joined(control.system, flags.get("scheduler"), [&](const caf::actor& scheduler, auto lost) {
    verifier.join(scheduler, lost, flags.get_int("heartbeat-ms"), prover(tls));
  });
  std::cout << "tandem node: verifier draining" << std::endl;
  verifier.drain(std::chrono::milliseconds(flags.get_int("drain-timeout-ms")));
  verifier.stop();
  return 0;
}

int run_drafter(const Flags& flags, const std::string& name, const ClusterTls& tls) {
  ModeSettings settings;
  settings.mode = flags.get("drafter-mode");
  settings.draft_tokens = int(flags.get_int("draft-tokens"));
  if (settings.mode != "chain" && settings.mode != "tree") throw UsageError("--drafter-mode must be chain or tree");
  const std::string model_name =
      flags.get("draft-model") == "none" ? "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" : flags.get("draft-model");
  const bool curve = data_channel_curve(flags, tls, "verifiers (drafter data)");  // admits its paired verifiers
  auto model = Model::load(resolve_model_path(model_name));
  const Device draft_device = device_flag(flags, "draft-device");
  const LinkSite site = link_site_flag(flags, draft_device);
  Transformer draft(*model, int(flags.get_int("threads")), kAttentionSegment, kDefaultMatmulPath, draft_device);
  std::string endpoint;
  const CurveKeyPair data_keys = generate_curve_keys();
  // Several verifiers may draft here. A draft request it can serve carries at most a context
  // of --max-context token ids (varints of up to 5 bytes) and its sampling; libzmq drops a
  // connection that sends a frame past this limit before allocating it.
  const int64_t max_frame = 16 * flags.get_int("max-context") + 65536;
  CurvePeerListener listener =
      curve ? zmq_peer_listen_curve(flags.get("listen"), max_frame, data_keys, &endpoint)
            : CurvePeerListener{zmq_peer_listen(flags.get("listen"), max_frame, &endpoint), nullptr};
  // Paired verifiers on GPUs NCCL can join reach it over NCCL links of their own, the rest over ZeroMQ.
  PeerSet peers(*listener.channel);
  PeerChannel* channel = &peers;
  DrafterService service(draft, settings, flags.get_int("max-context"));
  auto joined = std::make_shared<std::atomic<bool>>(false);
  OpsHttp ops(http_address(flags, "drafter"), {[&] {
                                                 return nlohmann::json{
                                                     {"live_requests", service.live_requests()},
                                                     {"most_drafted_together", service.most_drafted_together()},
                                                     {"nccl_links", peers.links()},
                                                     {"joined", bool(*joined)}};
                                               },
                                               [&] { return bool(*joined) || flags.get("scheduler").empty(); }});
  std::cout << "tandem node: drafter '" << name << "' " << model->config().name << " (" << settings.mode
            << "), " << device_label(draft.device_name()) << ", data on " << endpoint << "; " << describe_links(site, draft_device)
            << "; metrics on " << ops.address() << std::endl;
  write_endpoint_file(flags.get("endpoint-file"), {endpoint, ops.address(), listener.gate ? data_keys.public_key : ""});

  ServingThread serving([&](const std::atomic<bool>& stop) { service.serve(*channel, stop); });
  NodeAgentSettings s;
  s.role = "drafter";
  s.name = name;
  s.data_endpoint = flags.get("advertise").empty() ? endpoint : flags.get("advertise");
  s.model = model_fingerprint(*model);
  s.vocabulary = vocabulary_fingerprint(model->tokenizer());
  if (ZapHandler* gate = listener.gate) {
    s.data_key = data_keys.public_key;
    s.admit = admit_keys(*gate);
  }
  s.site = format_link_site(site);
  s.nccl_link = [&peers, draft_device](const std::string& verifier, const std::string& ids) {
    log_event(LogLevel::info, "nccl_link_joining", {{"verifier", verifier}});
    peers.add_link(
        "nccl:" + verifier, [=] { return join_nccl_drafter_link(ids, 1, draft_device); },
        [verifier](const std::string& why) {
          log_event(LogLevel::warn, "nccl_link_failed", {{"verifier", verifier}, {"why", why}});
        });
  };
  s.load = [&service] { return std::pair<int64_t, int64_t>(int64_t(service.live_requests()), 0); };
  s.joined = joined;
  serve_joined(flags, tls, std::move(s), [] { return true; });
  serving.stop();
  std::cout << "tandem node: drafter stopping" << std::endl;
  return 0;
}

int run_shard(const Flags& flags, const std::string& name, const ClusterTls& tls) {
  KvShardLimits limits;
  limits.max_bytes = size_t(std::max<long long>(0, flags.get_int("max-kv-bytes")));
  limits.idle_release = std::chrono::seconds(std::max<long long>(1, flags.get_int("idle-release-s")));
  KvShard shard(limits, int(flags.get_int("threads")));
  std::string endpoint;
  const bool curve = data_channel_curve(flags, tls, "verifiers (KV shard data)");  // admits every verifier
  const int64_t max_frame = std::max<long long>(1024, flags.get_int("max-frame-bytes"));
  const CurveKeyPair data_keys = generate_curve_keys();
  CurvePeerListener listener =
      curve ? zmq_peer_listen_curve(flags.get("listen"), max_frame, data_keys, &endpoint)
            : CurvePeerListener{zmq_peer_listen(flags.get("listen"), max_frame, &endpoint), nullptr};
  PeerChannel* channel = listener.channel.get();
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
  std::cout << "tandem node: shard '" << name << "', data on " << endpoint << "; metrics on " << ops.address()
            << (flags.get("scheduler").empty() ? std::string() : "; joining " + flags.get("scheduler")) << std::endl;
  write_endpoint_file(flags.get("endpoint-file"), {endpoint, ops.address(), listener.gate ? data_keys.public_key : ""});
  ServingThread serving([&](const std::atomic<bool>& stop) { shard.serve(*channel, stop); });
  NodeAgentSettings s;
  s.role = "shard";
  s.name = name;
  s.data_endpoint = flags.get("advertise").empty() ? endpoint : flags.get("advertise");
  if (listener.gate) {
    s.data_key = data_keys.public_key;
    s.admit = admit_keys(*listener.gate);
  }
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

}  // namespace

int run_node(const std::vector<std::string>& args) {
  Flags flags = node_flags();
  if (!flags.parse(args)) return 0;
  const std::string role = flags.get("role");
  const std::string name = flags.get("name").empty() ? default_name(role) : flags.get("name");
  apply_log_flags(flags, name);
  const ClusterTls tls = cluster_tls(flags);  // wrong certificate files fail now, before any model loads
  check_certificate_binds(tls, role, name);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (role == "scheduler") return run_scheduler(flags, tls);
  if (role == "verifier") return run_verifier(flags, name, tls);
  if (role == "drafter") return run_drafter(flags, name, tls);
  if (role == "shard") return run_shard(flags, name, tls);
  throw UsageError(role.empty() ? "--role is required: scheduler, verifier, drafter or shard"
                                : "unknown role '" + role + "': scheduler, verifier, drafter or shard");
}

}  // namespace tandem
