#include "apps/node_roles.h"

#include <iostream>
#include <map>
#include <sstream>

#include "actors/messages.h"
#include "apps/bind_policy.h"
#include "observability/log.h"
#include "security/join_proof.h"
#include "transport/control_plane.h"

namespace tandem {
namespace {

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

}  // namespace

volatile std::sig_atomic_t node_stop_signal = 0;

void install_stop_handlers() {
  auto on_signal = [](int signal) { node_stop_signal = signal; };
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool data_channel_curve(const Flags& flags, const ClusterTls& tls, const std::string& what) {
  const bool curve = !flags.get("scheduler").empty();
  check_exposure(flags, what, flags.get("listen"), curve && tls.enabled(),
                 curve ? "--cluster-ca, --cluster-cert and --cluster-key (the data channel's keys travel on it)" : "");
  return curve;
}

DataChannel listen_for_verifiers(const Flags& flags, bool curve, int64_t max_frame_bytes) {
  DataChannel data;
  data.keys = generate_curve_keys();
  data.listener =
      curve ? zmq_peer_listen_curve(flags.get("listen"), max_frame_bytes, data.keys, &data.endpoint)
            : CurvePeerListener{zmq_peer_listen(flags.get("listen"), max_frame_bytes, &data.endpoint), nullptr};
  return data;
}

void DataChannel::describe(const Flags& flags, NodeAgentSettings& s) const {
  s.data_endpoint = flags.get("advertise").empty() ? endpoint : flags.get("advertise");
  if (listener.gate) {
    s.data_key = keys.public_key;
    s.admit = admit_keys(*listener.gate);
  }
}

std::string http_address(const Flags& flags, const std::string& role) {
  if (!flags.get("http").empty()) return flags.get("http");
  return role == "scheduler" ? "127.0.0.1:8000" : "127.0.0.1:0";
}

void stay_joined(caf::actor_system& system, const std::string& address, const JoinScheduler& join) {
  while (!node_stopping()) {
    caf::actor scheduler;
    try {
      scheduler = connect_actor(system, address);
    } catch (const std::runtime_error& e) {
      std::cerr << "tandem node: " << e.what() << "; retrying" << std::endl;
      for (int i = 0; i < 10 && !node_stopping(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    auto lost = std::make_shared<std::atomic<bool>>(false);
    join(scheduler, lost);
    while (!node_stopping() && !*lost) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (node_was_refused())
      throw std::runtime_error("the scheduler at " + address + " refused this node (see the log)");
  }
}

JoinProver prover(const ClusterTls& tls) {
  return tls.enabled() ? certificate_prover(tls.cert_file, tls.key_file) : nullptr;
}

void serve_joined(const Flags& flags, const ClusterTls& tls, NodeAgentSettings s, const std::function<bool()>& idle) {
  if (flags.get("scheduler").empty()) {
    while (!node_stopping()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  ControlPlane control(tls, add_message_types);
  caf::actor agent;
  s.heartbeat_ms = flags.get_int("heartbeat-ms");
  s.prove = prover(tls);
  stay_joined(control.system, flags.get("scheduler"),
              [&](const caf::actor& scheduler, std::shared_ptr<std::atomic<bool>> lost) {
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

}  // namespace tandem
