#pragma once
// The scheduler actor: admits client requests, sends each to the least busy live
// verifier, relays the verifier's replies to the client, and keeps the membership
// table (drafters and verifiers join, heartbeat, and are dropped when silent or
// disconnected; with TLS, nodes join only under a role and name their certificate
// binds). Each verifier is paired with a free drafter. When a verifier is
// lost, every request it held ends with UNAVAILABLE; nothing waits forever.
// Protocol: actors/messages.h.
#include <caf/all.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/active_request.h"

namespace tandem {

/// A verifier and its drafter, with the link chosen for them.
struct PairView {
  std::string verifier, drafter;
  std::string link, reason;  // "nccl" or "zeromq", and why (transport/link_site.h)
};

/// What the scheduler shows the client endpoints, updated after every message it handles.
struct SchedulerView {
  mutable std::mutex mutex;
  std::vector<std::string> live_clients;  // clients with a request in flight
  size_t live_requests = 0;
  int64_t kv_cache_bytes = 0;  // as the verifiers and KV shards last reported
  size_t verifiers = 0, drafters = 0, shards = 0;
  std::vector<PairView> pairs;
};

/// How the scheduler is set up.
struct SchedulerSettings {
  ReplySink sink;                       // delivers replies to clients (thread-safe)
  std::shared_ptr<SchedulerView> view;  // may be null
  int64_t node_timeout_ms = 3000;       // a node silent this long is dropped
  int64_t tick_ms = 250;                // how often silence is checked
  std::string model, vocabulary;        // fingerprints of the model served: a verifier of another model,
                                        // or a drafter of another vocabulary, is refused ('' : not checked)
  std::string cluster_ca;               // the control plane's CA: a joining node must prove that its certificate
                                        // binds its role and name (security/join_proof.h; '' : plain, no proof)
  std::string local_secret;             // proves a node inside this process instead ('' : none)
};

/// Spawns a scheduler.
caf::actor spawn_scheduler(caf::actor_system& system, SchedulerSettings settings);

}  // namespace tandem
