#pragma once
// Who sent a request, as the client endpoints name it. The name travels as text through
// the actors and the logs ("zmq:WHO:HEX", "http:WHO:N"); this is the one place that writes
// it and reads it back.
//
//   zmq:alice:00a1b2     a ZeroMQ client with the CURVE key named alice, on connection 00a1b2
//   zmq:@10.0.0.7:00a1b2 one without CURVE, by its address
//   zmq:00a1b2           one whose address is unknown
//   http:alice:17        HTTP request 17, with the API key named alice (else its peer address)
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

/// A client's name, taken apart.
struct ClientId {
  std::string door;        // "zmq" or "http"
  std::string who;         // a key's name, "@address" or an address; empty: unknown
  std::string connection;  // ZeroMQ: the connection's routing id in hex; HTTP: the request's number
};

/// The name of `id` as it travels.
std::string format_client(const ClientId& id);
/// A name taken apart; nullopt for text that is not one.
std::optional<ClientId> parse_client(const std::string& name);
/// The door a name came in by ("zmq", "http"), without taking the rest apart: every reply asks.
std::string_view client_door(std::string_view name);
/// Whom the fair share and the per-client limit count: DOOR:WHO, or the whole name when WHO is
/// unknown (one connection).
std::string client_group(const std::string& name);
/// The routing id of a ZeroMQ client's connection; empty unless `name` is a ZeroMQ client's.
std::string zmq_routing_id(const std::string& name);

}  // namespace tandem
