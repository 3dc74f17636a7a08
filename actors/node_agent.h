#pragma once
// A node's membership agent: joins the scheduler with the node's role, name, data
// endpoint and work actor (with TLS, proving that its certificate binds that role and
// name), then heartbeats with its load. If the scheduler forgets
// the node it joins again; if the scheduler goes away the agent stops and sets
// `scheduler_lost`, so the process can reconnect.
//
//   start ─join─▶ joined ─(heartbeat every interval)─▶ joined
//                   │  └─ scheduler says "unknown" ─▶ join again
//                   └─ scheduler down ─▶ stopped (scheduler_lost = true)
//   start ─join─▶ refused ─▶ stopped (scheduler_lost = true, node_was_refused())
#include <atomic>
#include <caf/all.hpp>
#include <functional>
#include <memory>
#include <string>

#include "security/join_proof.h"

namespace tandem {

/// What a node tells the scheduler about itself.
struct NodeAgentSettings {
  std::string role, name, data_endpoint;
  std::string model, vocabulary;  // fingerprints of its model and vocabulary ('' : none)
  std::string data_key;           // CURVE public key of its data channel ('' : plain)
  std::string site;               // where its model runs (transport/link_site.h; '' : ZeroMQ only)
  // The proof for a claim (security/join_proof.h), its nonce the scheduler's challenge; null: none
  // (a plain control plane).
  JoinProver prove;
  // drafter: join the NCCL link (verifier's name, link ids) the scheduler formed
  std::function<void(const std::string&, const std::string&)> nccl_link;
  std::function<void(const std::string&)> admit;      // drafter, shard: the verifiers' keys, comma-separated
  caf::actor work;                                    // receives the scheduler's work messages (null: the agent)
  std::function<std::pair<int64_t, int64_t>()> load;  // (live requests, KV cache bytes)
  int64_t heartbeat_ms = 500;
  std::shared_ptr<std::atomic<bool>> scheduler_lost;  // set when the agent stops
  std::shared_ptr<std::atomic<bool>> joined;          // true while joined (may be null)
};

/// Whether a scheduler refused this process's node (another model, a bad name...): joining
/// again would be refused again, so the process should stop.
bool node_was_refused();

/// Spawns the agent for `scheduler`.
caf::actor spawn_node_agent(caf::actor_system& system, caf::actor scheduler, NodeAgentSettings settings);

}  // namespace tandem
