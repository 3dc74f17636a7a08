#pragma once
// What the roles of `tandem node` share: the stop signal, joining (and rejoining) the
// scheduler, a drafter's or shard's data channel and its CURVE keys, and the roles that
// have no host class of their own (apps/drafter_host.cpp, apps/shard_host.cpp).
#include <atomic>
#include <caf/all.hpp>
#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "actors/node_agent.h"
#include "apps/cluster_tls_flags.h"
#include "apps/flags.h"
#include "security/curve.h"
#include "transport/channel.h"

namespace tandem {

/// Set by SIGINT and SIGTERM once install_stop_handlers() has run.
extern volatile std::sig_atomic_t node_stop_signal;
/// Makes SIGINT and SIGTERM set node_stop_signal.
void install_stop_handlers();
/// Whether a stop signal has arrived.
inline bool node_stopping() { return node_stop_signal != 0; }

/// Whether a drafter's or shard's data channel (`what`) speaks CURVE: it does, with a key pair
/// made afresh, when a scheduler hands out the keys (over the control plane, which the
/// cluster's certificates protect); without a scheduler it is plain ZeroMQ. A reachable
/// --listen those keys do not protect is refused (apps/bind_policy.h).
bool data_channel_curve(const Flags& flags, const ClusterTls& tls, const std::string& what);
/// A drafter's or shard's data channel for verifiers, listening on --listen.
struct DataChannel {
  CurveKeyPair keys;           // made afresh; with CURVE, its public half travels to the scheduler
  std::string endpoint;        // as bound
  CurvePeerListener listener;  // with a gate when it speaks CURVE
  /// Its public key when it speaks CURVE, else ''.
  std::string curve_key() const { return listener.gate ? keys.public_key : ""; }
  /// Tells the scheduler, through `s`, where verifiers reach it (--advertise, else the bound
  /// endpoint) and, with CURVE, its key and whom to admit.
  void describe(const Flags& flags, NodeAgentSettings& s) const;
};
/// Listens on --listen (CURVE when `curve`), refusing frames over `max_frame_bytes`.
DataChannel listen_for_verifiers(const Flags& flags, bool curve, int64_t max_frame_bytes);
/// The node's HTTP address: --http, else 127.0.0.1:8000 for the scheduler and any free port for the others.
std::string http_address(const Flags& flags, const std::string& role);

/// Called with the scheduler each time a node (re)joins it, and a flag set when it is lost.
using JoinScheduler = std::function<void(const caf::actor& scheduler, std::shared_ptr<std::atomic<bool>> lost)>;
/// Joins the scheduler at `address` with `join` until a stop signal, joining again whenever it is lost.
void stay_joined(caf::actor_system& system, const std::string& address, const JoinScheduler& join);
/// With the cluster's certificates, each join proves that this node's certificate binds its role and name.
JoinProver prover(const ClusterTls& tls);
/// Until a stop signal: with --scheduler, joins it as `s` describes (again whenever it is
/// lost); then drains (the scheduler sends no new work) until `idle` or --drain-timeout-ms.
void serve_joined(const Flags& flags, const ClusterTls& tls, NodeAgentSettings s, const std::function<bool()>& idle);

/// A data channel's serving loop on its own thread, stopped and joined however the scope ends.
class ServingThread {
 public:
  explicit ServingThread(std::function<void(const std::atomic<bool>&)> serve)
      : thread_([this, serve = std::move(serve)] { serve(stop_); }) {}
  ~ServingThread() { stop(); }
  /// Asks the loop to stop and waits for it.
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

/// `tandem node --role drafter`: a draft model serving token trees to its paired verifiers.
int run_drafter(const Flags& flags, const std::string& name, const ClusterTls& tls);
/// `tandem node --role shard`: a KV shard holding verifiers' attention segments.
int run_shard(const Flags& flags, const std::string& name, const ClusterTls& tls);

}  // namespace tandem
