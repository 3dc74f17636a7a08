#pragma once
// The scheduler's table of requests in flight: which verifier runs each one, and the
// routing decisions over it. Plain bookkeeping, no actors, no sockets: the scheduler actor
// (actors/scheduler_actor.cpp) sends what this decides.
//
//   route()  ──▶ the least busy live verifier (or why none)   submit
//   owner()  ──▶ is this reply from the verifier that runs it? relay
//   end()                                                     final reply, error, lost verifier
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "membership/membership.h"

namespace tandem {

/// A request in flight: where it runs and how far it got.
struct TrackedRequest {
  std::string verifier;
  std::chrono::steady_clock::time_point submitted;
  bool first_token_seen = false;
};

/// A request's key: (client, request id). Request ids are the client's own, unique per client.
using RequestKey = std::pair<std::string, std::string>;

/// Where route() sent a request, or why it could not.
struct Route {
  std::string verifier;  // empty when refused
  enum class Refusal { none, duplicate_id, no_verifier } refusal = Refusal::none;
};

/// The requests in flight across the cluster's verifiers.
class RequestRouter {
 public:
  /// Chooses the live, non-draining verifier with the fewest requests in flight (ties: the
  /// first by name) and records the request there; refuses an id the client already has in
  /// flight, or when no verifier can take it.
  Route route(const RequestKey& key, const Membership& membership, std::chrono::steady_clock::time_point now);
  /// The request's record, or null when it is not in flight.
  TrackedRequest* find(const RequestKey& key);
  /// The request's record if `verifier` runs it; null otherwise (it ended, or moved with a lost verifier).
  TrackedRequest* owned_by(const RequestKey& key, const std::string& verifier);
  /// Forgets a request that ended.
  void end(const RequestKey& key);
  /// The client's requests in flight, each with its verifier, in request id order.
  std::vector<std::pair<std::string, std::string>> requests_of(const std::string& client) const;
  /// Removes and returns every request `verifier` ran (it was lost).
  std::vector<std::pair<RequestKey, TrackedRequest>> take_requests_on(const std::string& verifier);
  /// The clients with requests in flight, each once, in order.
  std::vector<std::string> clients() const;
  /// How many requests are in flight.
  size_t size() const { return requests_.size(); }

 private:
  std::map<RequestKey, TrackedRequest> requests_;
};

}  // namespace tandem
