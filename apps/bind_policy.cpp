#include "apps/bind_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "apps/flags.h"

namespace tandem {

void add_insecure_flag(Flags& f) {
  f.add_switch("insecure",
               "allow listening on addresses other machines can reach without keys (client CURVE keys, API keys, the "
               "cluster's certificates); without it such a bind is refused");
}

bool is_local_address(const std::string& address) {
  if (address.rfind("ipc://", 0) == 0 || address.rfind("inproc://", 0) == 0) return true;
  std::string host = address;
  if (const size_t scheme = host.find("://"); scheme != std::string::npos) host = host.substr(scheme + 3);
  if (!host.empty() && host[0] == '[') {  // [IPv6]:port
    const size_t end = host.find(']');
    host = end == std::string::npos ? "" : host.substr(1, end - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return host == "localhost" || host == "lo";  // ZeroMQ also takes an interface name
}

void check_exposure(const Flags& flags, const std::string& what, const std::string& address, bool protected_by_keys,
                    const std::string& keys) {
  if (address.empty() || is_local_address(address) || protected_by_keys || flags.get_switch("insecure")) return;
  throw UsageError("refusing to listen for " + what + " on " + address + ", which other machines can reach, " +
                   (keys.empty() ? "since it has no authentication yet" : "without " + keys) +
                   ": bind a loopback address, or give --insecure to accept the risk");
}

}  // namespace tandem
