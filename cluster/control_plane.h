#pragma once
// The control plane between processes: a CAF actor system with the middleman loaded,
// and publish/connect by "host:port". Control messages (join, heartbeats, requests and
// their replies) travel here; token trees travel on data channels (cluster/channel.h).
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <memory>
#include <string>

namespace tandem {

/// An actor system able to publish and reach actors in other processes.
struct ControlPlane {
  // Actors are stopped by their owners; shutdown does not wait for a forgotten one.
  ControlPlane() : system(with_middleman(config)) { system.await_actors_before_shutdown(false); }
  caf::actor_system_config config;  // must outlive `system`
  caf::actor_system system;

 private:
  static caf::actor_system_config& with_middleman(caf::actor_system_config& config);
};

/// Splits "host:port" (port 0 to 65535); std::invalid_argument says what is wrong.
std::pair<std::string, uint16_t> split_host_port(const std::string& address);
/// Publishes `actor` on "host:port" (port 0: any free port) and returns the bound "host:port";
/// std::runtime_error says why it could not.
std::string publish_actor(caf::actor_system& system, const caf::actor& actor, const std::string& address);
/// The actor published at "host:port"; std::runtime_error if it cannot be reached.
caf::actor connect_actor(caf::actor_system& system, const std::string& address);

}  // namespace tandem
