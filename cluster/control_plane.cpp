#include "cluster/control_plane.h"

#include <stdexcept>

namespace tandem {

std::pair<std::string, uint16_t> split_host_port(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size())
    throw std::invalid_argument("'" + address + "' is not HOST:PORT");
  const std::string port = address.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 || std::stoi(port) > 65535)
    throw std::invalid_argument("'" + address + "': port must be a number from 0 to 65535");
  return {address.substr(0, colon), uint16_t(std::stoi(port))};
}

caf::actor_system_config& ControlPlane::with_middleman(caf::actor_system_config& config) {
  config.load<caf::io::middleman>();
  // Control messages are few; the cores belong to the forward passes. CAF's default
  // work-stealing threads poll for work and would take CPU from them, so: one thread
  // that sleeps on a condition variable.
  config.set("scheduler.policy", caf::atom("sharing"));
  config.set("scheduler.max-threads", 1);
  return config;
}

std::string publish_actor(caf::actor_system& system, const caf::actor& actor, const std::string& address) {
  auto [host, port] = split_host_port(address);
  auto bound = system.middleman().publish(actor, port, host.c_str(), true);
  if (!bound) throw std::runtime_error("cannot listen on " + address + ": " + system.render(bound.error()));
  return host + ":" + std::to_string(*bound);
}

caf::actor connect_actor(caf::actor_system& system, const std::string& address) {
  auto [host, port] = split_host_port(address);
  auto actor = system.middleman().remote_actor(host, port);
  if (!actor) throw std::runtime_error("cannot reach " + address + ": " + system.render(actor.error()));
  return *actor;
}

}  // namespace tandem
