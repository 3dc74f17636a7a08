#pragma once
// Who is in the cluster: the scheduler's table of drafter, verifier and KV shard nodes, kept
// alive by heartbeats. A node silent for longer than the timeout is dropped; nothing
// is guessed. Each verifier is paired with at most one drafter, a drafter with any
// number of verifiers (it drafts for all their requests together), chosen by load.
// Plain bookkeeping, no threads, no sockets.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "transport/link_site.h"

namespace tandem {

/// What a node does in the cluster.
enum class NodeRole { drafter, verifier, shard };

/// "drafter", "verifier" or "shard".
const char* role_name(NodeRole role);
/// Parses a role name; nullopt for anything else.
std::optional<NodeRole> role_named(const std::string& name);

/// One member as the scheduler sees it.
struct NodeInfo {
  std::string name;
  NodeRole role = NodeRole::verifier;
  std::string data_endpoint;           // drafter, shard: where a verifier connects for token trees or KV segments
  std::string model;                   // verifier, drafter: its model's fingerprint (model/fingerprint.h)
  std::string vocabulary;              // verifier, drafter: its vocabulary's fingerprint; pairs share one
  std::string data_key;                // verifier, drafter: CURVE public key of its data channel ('' : plain)
  LinkSite site;                       // verifier, drafter: where its model runs, for choosing links
  LinkChoice link;                     // a verifier: the link to its drafter (empty without one)
  int64_t last_heard_ms = 0;           // steady clock
  int64_t live_requests = 0;           // as of its latest heartbeat
  int64_t kv_cache_bytes = 0;          // as of its latest heartbeat (a shard: the segments it holds)
  std::string partner;                 // a verifier: its drafter ('' for none)
  std::vector<std::string> verifiers;  // a drafter: the verifiers it drafts for
  bool draining = false;               // shutting down: takes no new requests
};

/// A verifier's new drafter (the link chosen is on the verifier's NodeInfo).
struct Pairing {
  std::string verifier, drafter;
  std::string previous;  // the drafter it leaves ('' : it had none)
  bool operator==(const Pairing&) const = default;
};

/// The scheduler's membership table.
class Membership {
 public:
  /// Nodes silent for more than `timeout_ms` are dropped by expire().
  explicit Membership(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}

  /// Adds a node, unpaired; false (and nothing changes) while a member of that name is live:
  /// a name belongs to one node until it leaves or expires, so a restart joins once the old
  /// process is gone, and a second node cannot take a live node's name and work.
  bool join(NodeInfo node, int64_t now_ms);
  /// Records a heartbeat; false for a node that is not a member (it should join again).
  bool heard(const std::string& name, int64_t now_ms, int64_t live_requests, int64_t kv_cache_bytes);
  /// Removes a node and unpairs its partners; the removed node, if it was a member.
  std::optional<NodeInfo> leave(const std::string& name);
  /// Marks a node as shutting down; false if it is not a member.
  bool drain(const std::string& name);
  /// Removes every node silent for longer than the timeout and returns them.
  std::vector<NodeInfo> expire(int64_t now_ms);

  /// The member of that name, or null.
  const NodeInfo* find(const std::string& name) const;
  /// Members of a role, by name.
  std::vector<const NodeInfo*> members(NodeRole role) const;
  /// Pairs every unpaired verifier with the least loaded drafter of its vocabulary (fewest
  /// verifiers, then fewest live requests; a draining drafter takes none), then evens out the
  /// drafters (one serving two verifiers more than another hands one over). The verifiers
  /// whose drafter changed.
  std::vector<Pairing> pair_by_load();
  /// A verifier whose NCCL link could not be formed uses ZeroMQ, `why` said; false if it had
  /// no NCCL link to fall back from.
  bool fall_back_to_zeromq(const std::string& verifier, const std::string& why);
  /// Total KV cache bytes the verifiers reported.
  int64_t kv_cache_bytes() const;
  /// The KV shards verifiers may spread new requests over, as the (shards, ...) message lists
  /// them: "endpoint[ key],..." of every shard not draining, by name ('' : none).
  std::string shard_list() const;
  /// The CURVE data keys a node's data channel admits, as the (admit, ...) message lists them:
  /// a shard admits every verifier's, a drafter its paired verifiers'; "key,key,...".
  std::string admitted_keys(const std::string& node) const;

 private:
  // The drafter that should take one more verifier of `vocabulary` (null: none can).
  NodeInfo* least_loaded_drafter(const std::string& vocabulary);
  void pair(NodeInfo& verifier, NodeInfo& drafter);
  void unpair(NodeInfo& verifier);

  int64_t timeout_ms_;
  std::map<std::string, NodeInfo> nodes_;
};

}  // namespace tandem
