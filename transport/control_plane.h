#pragma once
// The control plane between processes: a CAF actor system with the middleman loaded,
// and publish/connect by "host:port". Control messages (join, heartbeats, requests and
// their replies) travel here; token trees travel on data channels (transport/channel.h).
// Given the cluster's CA and a node certificate (security/certificates.h), every control
// connection is TLS with certificates checked on both sides, so a peer without one is
// dropped during the handshake, before CAF reads (or allocates for) any of its messages.
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <functional>
#include <memory>
#include <string>

#include "security/certificates.h"
#include "transport/control_front.h"

namespace tandem {

/// An actor system able to publish and reach actors in other processes.
struct ControlPlane {
  /// Plain TCP when `tls` is empty; std::runtime_error if its files do not fit together.
  // Actors are stopped by their owners; shutdown does not wait for a forgotten one.
  /// `add_types` announces the typed messages its actors exchange (actors/messages.h).
  explicit ControlPlane(const ClusterTls& tls = {},
                        const std::function<void(caf::actor_system_config&)>& add_types = {})
      : system(configure(config, tls, add_types)) {
    system.await_actors_before_shutdown(false);
  }
  caf::actor_system_config config;  // must outlive `system`
  caf::actor_system system;

 private:
  static caf::actor_system_config& configure(caf::actor_system_config& config, const ClusterTls& tls,
                                             const std::function<void(caf::actor_system_config&)>& add_types);
};

/// Splits "host:port" (port 0 to 65535); std::invalid_argument says what is wrong.
std::pair<std::string, uint16_t> split_host_port(const std::string& address);
/// An actor listening for remote peers: where, and (on a plain control plane) the front that
/// checks what they claim before CAF reads it; it listens as long as this lives.
struct PublishedActor {
  std::string address;  // "host:port" as bound
  std::unique_ptr<ControlFront> front;
};
/// Publishes `actor` on "host:port" (port 0: any free port): with TLS when the system has the
/// cluster's certificates, else behind a ControlFront; std::runtime_error says why it could not.
PublishedActor publish_actor(caf::actor_system& system, const caf::actor& actor, const std::string& address);
/// The actor published at "host:port"; std::runtime_error if it cannot be reached.
caf::actor connect_actor(caf::actor_system& system, const std::string& address);

}  // namespace tandem
