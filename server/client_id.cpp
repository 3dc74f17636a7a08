#include "server/client_id.h"

namespace tandem {

std::string format_client(const ClientId& id) {
  return id.door + ":" + (id.who.empty() ? std::string() : id.who + ":") + id.connection;
}

std::optional<ClientId> parse_client(const std::string& name) {
  const size_t first = name.find(':'), last = name.rfind(':');
  if (first == std::string::npos) return std::nullopt;
  ClientId id;
  id.door = name.substr(0, first);
  id.connection = name.substr(last + 1);
  if (last > first) id.who = name.substr(first + 1, last - first - 1);
  return id;
}

std::string_view client_door(std::string_view name) {
  const size_t colon = name.find(':');
  return colon == std::string_view::npos ? std::string_view() : name.substr(0, colon);
}

std::string client_group(const std::string& name) {
  const std::optional<ClientId> id = parse_client(name);
  if (!id || id->who.empty()) return name;
  return id->door + ":" + id->who;
}

std::string zmq_routing_id(const std::string& name) {
  if (client_door(name) != "zmq") return "";
  const std::string_view hex = std::string_view(name).substr(name.rfind(':') + 1);  // the connection
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };           // format_client's hex is 0-9a-f
  std::string routing;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) routing += char(nibble(hex[i]) << 4 | nibble(hex[i + 1]));
  return routing;
}

}  // namespace tandem
