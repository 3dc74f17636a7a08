#pragma once
// The scheduler actor's state and handlers (actors/scheduler_actor.h spawns it). Split by
// concern: scheduler_actor.cpp joins nodes and routes requests, scheduler_pairing.cpp pairs
// drafters with verifiers (forming NCCL links) and hands out KV shards. Everything runs on
// the actor's own thread; the tables it consults are pure and unit-tested (Membership,
// RequestRouter).
#include <caf/all.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/messages.h"
#include "actors/scheduler_actor.h"
#include "membership/membership.h"
#include "membership/request_router.h"
#include "security/join_proof.h"

namespace tandem {

/// What the scheduler knows.
struct SchedulerState {
  explicit SchedulerState(int64_t timeout_ms) : membership(timeout_ms) {}
  Membership membership;
  std::map<std::string, caf::actor> work_actors;      // node name -> where its work goes
  std::map<caf::actor_addr, std::string> node_names;  // monitored actor -> node name
  RequestRouter requests;                             // in flight, by (client, request id)
  std::string assigned_shards;                        // the KV shard list the verifiers last heard
  Challenges challenges;                              // nonces handed to joining nodes
};

/// The scheduler actor's behaviour and what it keeps.
class Scheduler {
 public:
  Scheduler(caf::event_based_actor* self, SchedulerSettings settings);
  /// The handlers of every message the scheduler takes (actors/messages.h).
  caf::behavior behavior();

 private:
  // ---- nodes joining and leaving (scheduler_actor.cpp)
  // Why `claim` is not proven by `proof` ('' when it is, or no proof is needed: a plain control plane).
  std::string unproven(const JoinClaim& claim, const std::string& proof);
  // Adds the node `r` describes to the cluster ('' ) or says why not.
  std::string join(const JoinRequest& r);
  // Why a node's model does not fit the one served ('' when it does): a verifier must hold the
  // same model, a drafter the same vocabulary (its token ids must mean the same text).
  std::string wrong_model(NodeRole role, const std::string& model, const std::string& vocabulary) const;
  // Drops a node that disconnected or went silent.
  void lose(const std::string& name, const std::string& why);
  // Ends what a departed node leaves behind: a verifier's requests, a drafter's pairing.
  void end_node(const NodeInfo& node, const std::string& why);

  // ---- pairing and shards (scheduler_pairing.cpp)
  // Every shard serves every verifier, so each admits all the verifiers' data keys; `then`
  // runs once every shard has answered (at once when there is none).
  void admit_verifiers_on_shards(std::function<void()> then = {});
  // Every verifier may spread new requests over every live shard (a shard keeps each
  // verifier's requests apart), so the assignment is the whole list, sent on each change.
  void assign_shards();
  // Pairs every verifier without a drafter, by load (Membership::pair_by_load), and tells both ends.
  void pair_drafters();
  // Sends a drafter or KV shard the data-channel keys it admits now (a drafter: the keys of
  // the verifiers it drafts for, and no others); runs `then` once it has answered (or failed
  // to within 10 s).
  void admit_keys(const std::string& node, std::function<void()> then = {});
  // Asks the verifier for the new link's ids, hands them to the drafter (rank 1), then pairs
  // the verifier (rank 0) with them. Any failure: the pair uses ZeroMQ, and says why.
  void form_nccl_link(const std::string& verifier, const std::string& drafter);

  // ---- requests (scheduler_actor.cpp)
  // Routes a request to the least busy verifier, or refuses it (a duplicate id, no verifier).
  void submit(const SubmitWork& w);
  // Passes a verifier's reply on if that verifier still owns the request.
  void relay(const std::string& verifier, const std::string& client, const wire::ServerMessage& m);
  // Sends a request's last message and records how it ended.
  void reply_end(const std::string& client, const TrackedRequest* tracked, const wire::ServerMessage& m);
  // Updates what the client endpoints see (SchedulerView) and the cluster's gauges.
  void publish_view();

  /// Sends `xs` to a node's work actor, if the node is still known.
  template <typename... Ts>
  void send_work(const std::string& node, Ts&&... xs) {
    auto it = state_.work_actors.find(node);
    if (it != state_.work_actors.end()) self_->send(it->second, std::forward<Ts>(xs)...);
  }

  caf::event_based_actor* self_;
  SchedulerSettings settings_;
  SchedulerState state_;
  JoinProofChecker proofs_;
};

}  // namespace tandem
