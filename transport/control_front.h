#pragma once
// The front of a plain (non-TLS) control port. CAF's BASP reads a 32-byte header and then
// allocates the payload length it claims, up to 4 GiB, before a byte of it arrives: any peer
// could make the scheduler allocate gigabytes per connection. So on a plain control plane
// CAF does not listen on the network at all: it listens on a Unix socket in a folder only
// this user can open, and this front listens on HOST:PORT, relays each connection to it, and
// reads every BASP header on the way in, closing a connection whose header claims more than
// kMaxControlPayloadBytes before CAF sees it. (With the cluster's certificates, TLS already
// drops a stranger in the handshake; see control_plane.h.)
//
//   peer ──TCP──▶ front (checks each header) ──Unix socket──▶ CAF's BASP broker
#include <atomic>
#include <caf/all.hpp>
#include <cstdint>
#include <string>
#include <thread>

namespace tandem {

/// The most a control message's payload may claim (the largest real one, a 1 MiB client
/// frame relayed to a verifier, with room to spare).
constexpr uint32_t kMaxControlPayloadBytes = 16 << 20;

/// Publishes an actor on a plain control port through a size-checking front.
class ControlFront {
 public:
  /// Publishes `actor` and listens on host:port (0: any free port); std::runtime_error if it cannot.
  ControlFront(caf::actor_system& system, const caf::actor& actor, const std::string& host, uint16_t port);
  ~ControlFront();
  ControlFront(const ControlFront&) = delete;
  ControlFront& operator=(const ControlFront&) = delete;

  /// The TCP port it listens on.
  uint16_t port() const { return port_; }

 private:
  void relay();  // the front's thread: accepts and relays until stopping_

  std::string folder_, socket_path_;  // the private folder and CAF's Unix socket in it
  int listener_ = -1;
  int wake_[2] = {-1, -1};  // a pipe that ends relay()'s wait at shutdown
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tandem
