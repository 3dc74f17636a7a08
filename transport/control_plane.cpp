#include "transport/control_plane.h"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <caf/openssl/all.hpp>
#include <stdexcept>

// CAF 0.17's OpenSSL sessions do not empty OpenSSL's per-thread error queue before an I/O
// call, as OpenSSL requires: the errors a stranger's failed handshake leaves there make the
// next would-block read of a member's connection look fatal, and CAF drops that member
// (a node joined, was lost and joined again each time a stranger retried). These
// definitions take the place of libssl's for libcaf_openssl (an executable's symbols come
// first) and empty the queue before calling libssl's own.
namespace {
template <typename Function>
Function libssl(const char* name) {
  static_assert(std::is_pointer_v<Function>);
  auto function = reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
  if (!function) abort();  // libssl is linked: it cannot be missing
  return function;
}
}  // namespace

extern "C" {
int SSL_read(SSL* ssl, void* buffer, int size) {
  static auto real = libssl<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buffer, size);
}
int SSL_write(SSL* ssl, const void* buffer, int size) {
  static auto real = libssl<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buffer, size);
}
int SSL_accept(SSL* ssl) {
  static auto real = libssl<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}
int SSL_connect(SSL* ssl) {
  static auto real = libssl<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}
}

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

caf::actor_system_config& ControlPlane::configure(caf::actor_system_config& config, const ClusterTls& tls,
                                                  const std::function<void(caf::actor_system_config&)>& add_types) {
  config.load<caf::io::middleman>();
  if (add_types) add_types(config);
  if (tls.enabled()) {
    check_cluster_tls(tls);  // CAF would only say "cannot load certificate" at the first connection
    config.load<caf::openssl::manager>();
    config.openssl_cafile = tls.ca_file;
    config.openssl_certificate = tls.cert_file;
    config.openssl_key = tls.key_file;
  }
  // Control messages are few; the cores belong to the forward passes. CAF's default
  // work-stealing threads poll for work and would take CPU from them, so: one thread
  // that sleeps on a condition variable.
  config.set("scheduler.policy", caf::atom("sharing"));
  config.set("scheduler.max-threads", 1);
  return config;
}

PublishedActor publish_actor(caf::actor_system& system, const caf::actor& actor, const std::string& address) {
  auto [host, port] = split_host_port(address);
  if (!system.has_openssl_manager()) {
    auto front = std::make_unique<ControlFront>(system, actor, host, port);
    const std::string bound = host + ":" + std::to_string(front->port());
    return {bound, std::move(front)};
  }
  auto bound = caf::openssl::publish(actor, port, host.c_str(), true);
  if (!bound) throw std::runtime_error("cannot listen on " + address + ": " + system.render(bound.error()));
  return {host + ":" + std::to_string(*bound), nullptr};
}

caf::actor connect_actor(caf::actor_system& system, const std::string& address) {
  auto [host, port] = split_host_port(address);
  auto actor = system.has_openssl_manager() ? caf::openssl::remote_actor(system, host, port)
                                            : system.middleman().remote_actor(host, port);
  if (!actor) throw std::runtime_error("cannot reach " + address + ": " + system.render(actor.error()));
  return *actor;
}

}  // namespace tandem
