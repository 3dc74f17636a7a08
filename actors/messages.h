#pragma once
// The control messages between tandem's actors (CAF 0.17 atoms). A message of three or more
// fields is a typed struct (below); shorter ones are an atom and one or two strings. Client
// messages travel inside them as protobuf objects: within one process (`tandem serve`) as
// they are, between processes written as their bytes once. A request that fails is answered with a caf::error
// (cluster_error below). Every process announces the structs to its actor system
// (add_message_types).
//
// Joining and staying joined (node agent ─▶ scheduler):
//   (challenge) ─▶ a fresh nonce, which the join's proof signs (security/join_proof.h)
//   (join, JoinRequest) ─▶ joined, or an error: refused (with the reason), or name_in_use
//   (heartbeat, Heartbeat) ─▶ true, or false: "join again"
//   (drain, name)   the node is shutting down: no new requests; its running ones finish
//
// One request (gateway ─▶ scheduler ─▶ verifier ─▶ scheduler ─▶ client):
//   (submit, SubmitWork)                            gateway ─▶ scheduler ─▶ verifier
//   (cancel, client, request_id), (heard, client)  gateway ─▶ scheduler ─▶ verifier
//   (reply, VerifierReply)                          verifier ─▶ scheduler ─▶ client
//   (pair, PairWith)                                scheduler ─▶ verifier: its drafter (none, ZeroMQ or NCCL)
// Forming an NCCL link, when both ends' sites allow one (transport/link_site.h):
//   (group) scheduler ─▶ verifier ─▶ the new link's ids, or a no_link error saying why it cannot make one
//   (group, verifier_name, group_ids) scheduler ─▶ drafter: join that link as rank 1
//   then (pair, PairWith with the ids) to the verifier, which joins as rank 0
//   (admit, "key,key,...")                          scheduler ─▶ drafter, shard: the verifiers' CURVE keys its
//                                                   data channel admits (a drafter: its paired verifier's)
//   (shards, "endpoint[ key],endpoint[ key],...")   scheduler ─▶ verifier: the KV shard nodes
//                                                   it may spread new requests over ('' : none),
//                                                   each with its CURVE key if it has one
//
// A request's life at the scheduler:
//   submit ─▶ [no verifier]  UNAVAILABLE
//          ─▶ tracked(verifier) ── reply(chunk)* ── reply(final | error) ─▶ done
//                              └── verifier lost (down or silent) ─▶ UNAVAILABLE ─▶ done
#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <string>

#include "proto/client.pb.h"

namespace tandem {

/// A node asking to join the scheduler (node agent ─▶ scheduler).
struct JoinRequest {
  std::string role;           // drafter, verifier or shard
  std::string name;           // unique among live members
  std::string data_endpoint;  // where verifiers reach a drafter's or shard's data channel ('' : a verifier)
  caf::actor work;            // where the node's work goes
  std::string model;          // fingerprints (model/fingerprint.h; '' for a shard)
  std::string vocabulary;
  std::string data_key;  // the CURVE public key of its data channel ('' : plain ZeroMQ)
  std::string site;      // where its model runs, for choosing links (transport/link_site.h; '' : ZeroMQ only)
  std::string proof;     // that its certificate binds its role and name (security/join_proof.h; '' : plain)
};

/// How CAF reads and writes a JoinRequest.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JoinRequest& x) {
  return f(caf::meta::type_name("tandem.JoinRequest"), x.role, x.name, x.data_endpoint, x.work, x.model, x.vocabulary,
           x.data_key, x.site, x.proof);
}

/// A member saying it is alive, with its load (node agent ─▶ scheduler).
struct Heartbeat {
  std::string name;
  int64_t live_requests = 0;
  int64_t kv_cache_bytes = 0;
};

/// How CAF reads and writes a Heartbeat.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Heartbeat& x) {
  return f(caf::meta::type_name("tandem.Heartbeat"), x.name, x.live_requests, x.kv_cache_bytes);
}

/// How CAF carries a protobuf message `m` inside a typed message: nothing is written while
/// both actors share a process; between processes it travels as its bytes, once, and bytes
/// that do not parse leave `parsed` false (the receiver drops the message) rather than
/// failing the connection. `name` and `fields` are the struct's other parts.
template <class Inspector, class Proto, class... Fields>
typename Inspector::result_type inspect_with_proto(Inspector& f, const char* name, Proto& m, bool& parsed,
                                                   Fields&... fields) {
  std::string bytes;
  if constexpr (Inspector::reads_state) bytes = m.SerializeAsString();
  auto parse = caf::meta::load_callback([&m, &parsed, &bytes]() -> caf::error {
    parsed = m.ParseFromString(bytes);
    return caf::none;
  });
  return f(caf::meta::type_name(name), fields..., bytes, parse);
}

/// A client's request on its way to a verifier (gateway ─▶ scheduler ─▶ verifier): parsed
/// once, at the door, and never again in one process.
struct SubmitWork {
  std::string client;
  wire::SubmitRequest request;
  bool parsed = true;  // false: what came from another process was not a SubmitRequest
};

/// How CAF reads and writes a SubmitWork.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SubmitWork& x) {
  return inspect_with_proto(f, "tandem.SubmitWork", x.request, x.parsed, x.client);
}

/// A verifier's message for a client (verifier ─▶ scheduler ─▶ client).
struct VerifierReply {
  std::string verifier;  // the verifier's name: the scheduler relays only what the request's verifier says
  std::string client;
  wire::ServerMessage message;
  bool parsed = true;  // false: what came from another process was not a ServerMessage
};

/// How CAF reads and writes a VerifierReply.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, VerifierReply& x) {
  return inspect_with_proto(f, "tandem.VerifierReply", x.message, x.parsed, x.verifier, x.client);
}

/// The drafter a verifier drafts with from its next request on (scheduler ─▶ verifier).
struct PairWith {
  std::string drafter_endpoint;  // '' : none, the verifier decodes alone
  std::string drafter_key;       // the drafter's CURVE key ('' : plain ZeroMQ)
  std::string nccl_group_ids;    // '' : ZeroMQ; else the NCCL link's ids (transport/nccl_channel.h), with
                                 // ZeroMQ to fall back on if joining it fails
};

/// How CAF reads and writes a PairWith.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PairWith& x) {
  return f(caf::meta::type_name("tandem.PairWith"), x.drafter_endpoint, x.drafter_key, x.nccl_group_ids);
}

/// Announces the typed messages to a process's actor system, before it starts: without it,
/// a struct from another process could not be read.
void add_message_types(caf::actor_system_config& config);

/// Why a control request failed, as the code of a caf::error in the "tandem" category; its
/// context is one string, the reason for a person.
enum class cluster_error : uint8_t {
  refused = 1,      // join: the node may not join (its model, its proof, its role...)
  name_in_use = 2,  // join: the name belongs to a live member; a restart tries again
  no_link = 3,      // group: the verifier cannot make an NCCL link
};
/// The error for `code`, carrying `reason`.
caf::error cluster_failure(cluster_error code, std::string reason);
/// Whether `e` is a cluster_error of that code.
bool is_cluster_error(const caf::error& e, cluster_error code);
/// The reason a cluster_error carries; for any other error, CAF's rendering of it.
std::string failure_reason(const caf::error& e, caf::actor_system& system);

using join_atom = caf::atom_constant<caf::atom("join")>;
using challenge_atom = caf::atom_constant<caf::atom("challenge")>;
/// How the scheduler's refusal of a join begins when the name belongs to a live member: the
/// node tries again (a restart whose old self the scheduler has not yet seen go).
inline constexpr const char* kNameInUse = "name in use";
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using heard_atom = caf::atom_constant<caf::atom("heard")>;
using reply_atom = caf::atom_constant<caf::atom("reply")>;
using pair_atom = caf::atom_constant<caf::atom("pair")>;
using shards_atom = caf::atom_constant<caf::atom("shards")>;
using admit_atom = caf::atom_constant<caf::atom("admit")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using group_atom = caf::atom_constant<caf::atom("group")>;
using gone_atom = caf::atom_constant<caf::atom("gone")>;

}  // namespace tandem
