#pragma once
// One service, several kinds of link: a PeerSet serves the peers of a shared listening
// channel (ZeroMQ) and peers that reach it over links of their own (an NCCL link to each
// paired verifier) through one receive, each frame with its peer's id; a reply goes back the
// way its peer came. The service (a drafter) never knows which link a peer used.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/channel.h"

namespace tandem {

class PeerSet : public PeerChannel {
 public:
  explicit PeerSet(PeerChannel& shared) : shared_(shared) {}
  /// Waits for links still being made.
  ~PeerSet() override;

  /// Makes a link to `peer` on a thread of its own (joining an NCCL link waits for the
  /// other end), then serves it, replacing any earlier link of that peer. `make` throws
  /// when the link cannot be made; `failed` then hears why.
  void add_link(const std::string& peer, std::function<std::unique_ptr<Channel>()> make,
                std::function<void(const std::string&)> failed);
  /// Peers served over links of their own.
  size_t links() const;

  bool send(const std::string& peer, std::string_view frame) override;
  std::optional<std::pair<std::string, std::string>> receive(std::chrono::milliseconds timeout) override;

 private:
  PeerChannel& shared_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Channel>> links_;
  std::vector<std::thread> joining_;
};

}  // namespace tandem
