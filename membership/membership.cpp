#include "membership/membership.h"

#include <algorithm>

namespace tandem {

const char* role_name(NodeRole role) {
  switch (role) {
    case NodeRole::drafter: return "drafter";
    case NodeRole::verifier: return "verifier";
    case NodeRole::shard: return "shard";
  }
  return "?";
}

std::optional<NodeRole> role_named(const std::string& name) {
  if (name == "drafter") return NodeRole::drafter;
  if (name == "verifier") return NodeRole::verifier;
  if (name == "shard") return NodeRole::shard;
  return std::nullopt;
}

bool Membership::join(NodeInfo node, int64_t now_ms) {
  if (nodes_.count(node.name)) return false;
  node.last_heard_ms = now_ms;
  node.partner.clear();
  node.verifiers.clear();
  nodes_[node.name] = std::move(node);
  return true;
}

bool Membership::heard(const std::string& name, int64_t now_ms, int64_t live_requests, int64_t kv_cache_bytes) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return false;
  it->second.last_heard_ms = now_ms;
  it->second.live_requests = live_requests;
  it->second.kv_cache_bytes = kv_cache_bytes;
  return true;
}

std::optional<NodeInfo> Membership::leave(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return std::nullopt;
  const std::string drafter = it->second.partner;  // the removed verifier still names it
  if (it->second.role == NodeRole::verifier) unpair(it->second);
  NodeInfo node = std::move(it->second);
  node.partner = drafter;
  nodes_.erase(it);
  for (const std::string& verifier : node.verifiers)
    if (auto v = nodes_.find(verifier); v != nodes_.end()) {
      v->second.partner.clear();
      v->second.link = {};
    }
  return node;
}

bool Membership::drain(const std::string& name) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return false;
  it->second.draining = true;
  return true;
}

std::vector<NodeInfo> Membership::expire(int64_t now_ms) {
  std::vector<std::string> silent;
  for (const auto& [name, node] : nodes_)
    if (now_ms - node.last_heard_ms > timeout_ms_) silent.push_back(name);
  std::vector<NodeInfo> gone;
  for (const std::string& name : silent) gone.push_back(*leave(name));
  return gone;
}

const NodeInfo* Membership::find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<const NodeInfo*> Membership::members(NodeRole role) const {
  std::vector<const NodeInfo*> found;
  for (const auto& [name, node] : nodes_)
    if (node.role == role) found.push_back(&node);
  return found;
}

NodeInfo* Membership::least_loaded_drafter(const std::string& vocabulary) {
  NodeInfo* best = nullptr;
  for (auto& [name, d] : nodes_) {
    if (d.role != NodeRole::drafter || d.draining || d.vocabulary != vocabulary) continue;
    if (!best || std::make_pair(d.verifiers.size(), d.live_requests) <
                     std::make_pair(best->verifiers.size(), best->live_requests))
      best = &d;
  }
  return best;
}

void Membership::pair(NodeInfo& verifier, NodeInfo& drafter) {
  verifier.partner = drafter.name;
  verifier.link = choose_link(verifier.site, drafter.site);
  drafter.verifiers.push_back(verifier.name);
}

void Membership::unpair(NodeInfo& verifier) {
  if (auto d = nodes_.find(verifier.partner); d != nodes_.end()) std::erase(d->second.verifiers, verifier.name);
  verifier.partner.clear();
  verifier.link = {};
}

bool Membership::fall_back_to_zeromq(const std::string& verifier, const std::string& why) {
  auto it = nodes_.find(verifier);
  if (it == nodes_.end() || it->second.link.link != "nccl") return false;
  it->second.link = {"zeromq", why};
  return true;
}

std::vector<Pairing> Membership::pair_by_load() {
  std::vector<Pairing> changed;
  for (auto& [name, verifier] : nodes_) {
    if (verifier.role != NodeRole::verifier || !verifier.partner.empty()) continue;
    if (NodeInfo* drafter = least_loaded_drafter(verifier.vocabulary)) {
      pair(verifier, *drafter);
      changed.push_back({name, drafter->name, ""});
    }
  }
  // Even out: while a drafter serves two verifiers more than the least loaded one of its
  // vocabulary, its last verifier moves there (its running requests keep their drafter).
  for (bool moved = true; moved;) {
    moved = false;
    for (auto& [name, busy] : nodes_) {
      if (busy.role != NodeRole::drafter || busy.verifiers.empty()) continue;
      NodeInfo* idle = least_loaded_drafter(busy.vocabulary);
      if (!idle || idle->verifiers.size() + 2 > busy.verifiers.size()) continue;
      NodeInfo& verifier = nodes_.at(busy.verifiers.back());
      unpair(verifier);
      pair(verifier, *idle);
      changed.push_back({verifier.name, idle->name, name});
      moved = true;
    }
  }
  return changed;
}

int64_t Membership::kv_cache_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, node] : nodes_) bytes += node.kv_cache_bytes;
  return bytes;
}

std::string Membership::shard_list() const {
  std::string list;
  for (const NodeInfo* shard : members(NodeRole::shard))
    if (!shard->draining)
      list += (list.empty() ? "" : ",") + shard->data_endpoint + (shard->data_key.empty() ? "" : " " + shard->data_key);
  return list;
}

std::string Membership::admitted_keys(const std::string& node) const {
  const NodeInfo* n = find(node);
  if (!n) return "";
  std::vector<const NodeInfo*> verifiers;
  if (n->role == NodeRole::shard) verifiers = members(NodeRole::verifier);
  if (n->role == NodeRole::drafter)
    for (const std::string& verifier : n->verifiers) verifiers.push_back(find(verifier));
  std::string keys;
  for (const NodeInfo* v : verifiers)
    if (v && !v->data_key.empty()) keys += (keys.empty() ? "" : ",") + v->data_key;
  return keys;
}

}  // namespace tandem
