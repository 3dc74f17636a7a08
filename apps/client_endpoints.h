#pragma once
// The client-facing side of a process that hosts the scheduler (`tandem serve`,
// `tandem node --role scheduler`): the ZeroMQ frontend and the HTTP gateway, both
// handing requests to one RequestBackend, and the sink that routes replies back to
// whichever endpoint the client came through.
#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/http_gateway.h"
#include "server/zmq_frontend.h"

namespace tandem {

/// Writes `lines` to `path` (if not empty) all at once: a reader never sees half of them.
void write_endpoint_file(const std::string& path, const std::vector<std::string>& lines);

/// What guards the client endpoints.
struct ClientEndpointSettings {
  HttpLimits http;
  std::optional<CurveServer> curve;  // ZeroMQ clients must hold an authorized CURVE key
};

/// ZeroMQ frontend + optional HTTP gateway in front of a backend.
class ClientEndpoints {
 public:
  ClientEndpoints() = default;
  ~ClientEndpoints() { close(); }

  /// Routes a reply to the client's endpoint; usable before open() and after close() (then it drops it).
  ReplySink sink();
  /// Binds the ZeroMQ endpoint `listen` and, unless `http` is empty, the HTTP HOST:PORT, for `backend`.
  /// `model` gives the HTTP gateway its tokenizer and model name.
  void open(RequestBackend& backend, const Model& model, const std::string& listen, const std::string& http,
            const ClientEndpointSettings& settings = {});
  /// The bound ZeroMQ endpoint.
  std::string zmq_endpoint() const { return frontend_ ? frontend_->endpoint() : ""; }
  /// http://HOST:PORT, or "none".
  const std::string& http_address() const { return http_address_; }
  /// Until `stop` is set: every second, each ZeroMQ client with a request hears that the server is
  /// alive, so a client can tell a slow answer from a dead server.
  void serve_until(const volatile std::sig_atomic_t& stop);
  /// Graceful shutdown, first step: new requests are refused (UNAVAILABLE over ZeroMQ, 503 over
  /// HTTP) while those in flight go on; then waits up to `timeout` for them to finish.
  void drain(std::chrono::milliseconds timeout);
  /// Stops handing anything to the backend (HTTP answers 503); replies still flow.
  void stop_admitting();
  /// Closes both endpoints.
  void close();
  /// Adds `more()`'s fields to the HTTP /health answer (no-op without HTTP).
  void add_health(std::function<nlohmann::json()> more);

 private:
  std::recursive_mutex wiring_;  // lets each part be torn down while the others still run
  RequestBackend* backend_ = nullptr;
  std::unique_ptr<ZmqFrontend> frontend_;
  std::unique_ptr<HttpGateway> gateway_;
  bool frontend_open_ = false, gateway_open_ = false, draining_ = false;
  std::string http_address_ = "none";
};

}  // namespace tandem
