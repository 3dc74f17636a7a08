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

#include <iostream>

#include "actors/messages.h"
#include "apps/bind_policy.h"
#include "apps/cluster_tls_flags.h"
#include "apps/commands.h"
#include "apps/node_roles.h"
#include "apps/scheduler_host.h"
#include "apps/verifier_host.h"
#include "security/join_proof.h"
#include "server/ops_http.h"
#include "transport/control_plane.h"

namespace tandem {
namespace {

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

std::string default_name(const std::string& role) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return role + "-" + host + "-" + std::to_string(getpid());
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
                   (list.empty() ? std::string("no node") : list) + "); make one with tandem keys cert --node " + role +
                   "/" + name);
}

int run_scheduler(const Flags& flags, const ClusterTls& tls) {
  const ClientEndpointSettings endpoint_settings = client_endpoint_settings(flags);  // bad keys fail before loading
  check_scheduler_exposure(flags, flags.get("listen"), http_address(flags, "scheduler"), flags.get("control"),
                           endpoint_settings);
  // The scheduler tokenizes nothing itself; the HTTP gateway needs the target's tokenizer and name,
  // and joining nodes must hold the same model (verifiers) or vocabulary (drafters).
  auto model = Model::load(resolve_model_path(flags.get("model")));
  ControlPlane control(tls, add_message_types);
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
  endpoints.serve_until(node_stop_signal);
  std::cout << "tandem node: scheduler draining" << std::endl;
  scheduler.shutdown(std::chrono::milliseconds(flags.get_int("drain-timeout-ms")));
  return 0;
}

int run_verifier(const Flags& flags, const std::string& name, const ClusterTls& tls) {
  ControlPlane control(tls, add_message_types);
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

}  // namespace

int run_node(const std::vector<std::string>& args) {
  Flags flags = node_flags();
  if (!flags.parse(args)) return 0;
  const std::string role = flags.get("role");
  const std::string name = flags.get("name").empty() ? default_name(role) : flags.get("name");
  apply_log_flags(flags, name);
  const ClusterTls tls = cluster_tls(flags);  // wrong certificate files fail now, before any model loads
  check_certificate_binds(tls, role, name);
  install_stop_handlers();
  if (role == "scheduler") return run_scheduler(flags, tls);
  if (role == "verifier") return run_verifier(flags, name, tls);
  if (role == "drafter") return run_drafter(flags, name, tls);
  if (role == "shard") return run_shard(flags, name, tls);
  throw UsageError(role.empty() ? "--role is required: scheduler, verifier, drafter or shard"
                                : "unknown role '" + role + "': scheduler, verifier, drafter or shard");
}

}  // namespace tandem
