#include "transport/peer_set.h"

#include <algorithm>
#include <stdexcept>

namespace tandem {

PeerSet::~PeerSet() {
  for (std::thread& t : joining_) t.join();
}

void PeerSet::add_link(const std::string& peer, std::function<std::unique_ptr<Channel>()> make,
                       std::function<void(const std::string&)> failed) {
  std::lock_guard lock(mutex_);
  joining_.emplace_back([this, peer, make = std::move(make), failed = std::move(failed)] {
    try {
      std::shared_ptr<Channel> link = make();
      std::lock_guard lock(mutex_);
      links_[peer] = std::move(link);
    } catch (const std::runtime_error& e) {
      if (failed) failed(e.what());
    }
  });
}

size_t PeerSet::links() const {
  std::lock_guard lock(mutex_);
  return links_.size();
}

bool PeerSet::send(const std::string& peer, std::string_view frame) {
  std::shared_ptr<Channel> link;
  {
    std::lock_guard lock(mutex_);
    if (auto it = links_.find(peer); it != links_.end()) link = it->second;
  }
  if (!link) return shared_.send(peer, frame);
  if (link->send(frame)) return true;
  std::lock_guard lock(mutex_);  // broken: the peer is gone, or joins again on a new link
  if (auto it = links_.find(peer); it != links_.end() && it->second == link) links_.erase(it);
  return false;
}

std::optional<std::pair<std::string, std::string>> PeerSet::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<std::pair<std::string, std::shared_ptr<Channel>>> links;
    {
      std::lock_guard lock(mutex_);
      links.assign(links_.begin(), links_.end());
    }
    if (links.empty()) return shared_.receive(timeout);  // ZeroMQ alone: wait on it as before
    for (auto& [peer, link] : links)
      if (auto frame = link->receive(std::chrono::milliseconds(0))) return std::make_pair(peer, std::move(*frame));
    // Take turns: a short wait on the shared channel, then the links again.
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (auto frame = shared_.receive(std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(1))))
      return frame;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
  }
}

}  // namespace tandem
