#include "cluster/membership.h"

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

std::optional<NodeInfo> Membership::join(NodeInfo node, int64_t now_ms) {
  std::optional<NodeInfo> replaced = leave(node.name);
  node.last_heard_ms = now_ms;
  node.partner.clear();
  nodes_[node.name] = std::move(node);
  return replaced;
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
  NodeInfo node = std::move(it->second);
  nodes_.erase(it);
  if (auto partner = nodes_.find(node.partner); partner != nodes_.end()) partner->second.partner.clear();
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

std::vector<std::pair<std::string, std::string>> Membership::pair_free() {
  std::vector<std::pair<std::string, std::string>> paired;
  for (auto& [name, verifier] : nodes_) {
    if (verifier.role != NodeRole::verifier || !verifier.partner.empty()) continue;
    auto drafter = std::find_if(nodes_.begin(), nodes_.end(), [&vocabulary = verifier.vocabulary](const auto& entry) {
      const NodeInfo& d = entry.second;
      return d.role == NodeRole::drafter && d.partner.empty() && d.vocabulary == vocabulary;
    });
    if (drafter == nodes_.end()) continue;
    verifier.partner = drafter->first;
    drafter->second.partner = name;
    paired.emplace_back(name, drafter->first);
  }
  return paired;
}

int64_t Membership::kv_cache_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, node] : nodes_) bytes += node.kv_cache_bytes;
  return bytes;
}

}  // namespace tandem
