#include "membership/request_router.h"

namespace tandem {

Route RequestRouter::route(const RequestKey& key, const Membership& membership,
                           std::chrono::steady_clock::time_point now) {
  if (requests_.count(key)) return {"", Route::Refusal::duplicate_id};
  std::map<std::string, int> load;  // by name, so ties go to the first name
  for (const NodeInfo* v : membership.members(NodeRole::verifier))
    if (!v->draining) load[v->name] = 0;
  for (const auto& [k, tracked] : requests_)
    if (auto it = load.find(tracked.verifier); it != load.end()) ++it->second;
  std::string chosen;
  for (const auto& [name, n] : load)
    if (chosen.empty() || n < load[chosen]) chosen = name;
  if (chosen.empty()) return {"", Route::Refusal::no_verifier};
  requests_[key] = TrackedRequest{chosen, now};
  return {chosen};
}

TrackedRequest* RequestRouter::find(const RequestKey& key) {
  auto it = requests_.find(key);
  return it == requests_.end() ? nullptr : &it->second;
}

TrackedRequest* RequestRouter::owned_by(const RequestKey& key, const std::string& verifier) {
  TrackedRequest* tracked = find(key);
  return tracked && tracked->verifier == verifier ? tracked : nullptr;
}

void RequestRouter::end(const RequestKey& key) { requests_.erase(key); }

std::vector<std::pair<std::string, std::string>> RequestRouter::requests_of(const std::string& client) const {
  std::vector<std::pair<std::string, std::string>> found;
  for (auto it = requests_.lower_bound({client, ""}); it != requests_.end() && it->first.first == client; ++it)
    found.emplace_back(it->first.second, it->second.verifier);
  return found;
}

std::vector<std::pair<RequestKey, TrackedRequest>> RequestRouter::take_requests_on(const std::string& verifier) {
  std::vector<std::pair<RequestKey, TrackedRequest>> taken;
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (it->second.verifier != verifier) {
      ++it;
      continue;
    }
    taken.emplace_back(it->first, it->second);
    it = requests_.erase(it);
  }
  return taken;
}

std::vector<std::string> RequestRouter::clients() const {
  std::vector<std::string> clients;
  for (const auto& [key, tracked] : requests_)
    if (clients.empty() || clients.back() != key.first) clients.push_back(key.first);
  return clients;
}

}  // namespace tandem
