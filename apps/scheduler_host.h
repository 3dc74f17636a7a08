#pragma once
// The scheduler role as a process hosts it (`tandem serve`, `tandem node --role
// scheduler`): the scheduler actor, the client endpoints in front of it, and the
// order in which they start and stop.
#include <caf/all.hpp>
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <string>

#include "actors/scheduler_gateway.h"
#include "apps/client_endpoints.h"
#include "security/join_proof.h"
#include "transport/control_plane.h"

namespace tandem {

class Flags;

/// Adds --max-body-bytes, --http-threads, --http-timeout-s, --api-keys, --api-keys-file,
/// --curve-secret-key, --curve-authorized-keys and --insecure.
void add_client_endpoint_flags(Flags& flags);
/// What those flags set; a UsageError for nonsense (or an unreadable key file).
ClientEndpointSettings client_endpoint_settings(const Flags& flags);
/// A UsageError unless each of the scheduler's listeners is on loopback, protected by the
/// keys `settings` holds, or allowed by --insecure (apps/bind_policy.h).
void check_scheduler_exposure(const Flags& flags, const std::string& listen, const std::string& http,
                              const std::string& control, const ClientEndpointSettings& settings);

/// A running scheduler and its client endpoints.
class SchedulerHost {
 public:
  /// A scheduler for `model`: verifiers of another model and drafters of another vocabulary are
  /// refused; with `tls`, so is a node whose certificate does not bind its role and name.
  SchedulerHost(caf::actor_system& system, int64_t node_timeout_ms, const Model& model, const ClusterTls& tls);

  /// The scheduler actor (local verifiers join it directly).
  const caf::actor& actor() const { return scheduler_; }
  /// How a node in this process proves itself when it joins.
  JoinProver local_prover() const;
  /// Lets nodes of other processes join at HOST:PORT ('' for none); the bound address or "none".
  std::string publish(const std::string& control);
  /// Binds the ZeroMQ endpoint and the HTTP HOST:PORT ('' for none); `model` gives HTTP its
  /// tokenizer and name. A malformed address is a UsageError.
  void open(const Model& model, const std::string& listen, const std::string& http,
            const ClientEndpointSettings& settings = {});
  ClientEndpoints& endpoints() { return endpoints_; }
  /// The verifier-drafter pairs and the link chosen for each, for /health.
  nlohmann::json pairs() const;
  /// After a stop signal: refuse new requests and give those running `drain` to finish, run
  /// `stop_local_work` (a verifier in this process ends what is left: CANCELLED), let the
  /// scheduler relay the last replies, then close the endpoints.
  void shutdown(std::chrono::milliseconds drain, const std::function<void()>& stop_local_work = {});

 private:
  caf::actor_system& system_;
  std::string local_secret_ = new_nonce();  // never leaves this process
  ClientEndpoints endpoints_;
  std::shared_ptr<SchedulerView> view_ = std::make_shared<SchedulerView>();
  caf::actor scheduler_;
  std::unique_ptr<SchedulerGateway> gateway_;
  PublishedActor published_;  // the control port, listening while this lives
};

}  // namespace tandem
