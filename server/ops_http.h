#pragma once
// The operations endpoints every node serves on its HTTP port: /metrics (Prometheus
// text format), /health (the process is alive, with a JSON body of figures) and
// /ready (200 once the node can do its work: model loaded, joined the cluster).
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace tandem {

/// What a node says about itself.
struct OpsStatus {
  std::function<nlohmann::json()> health;  // the body of /health
  std::function<bool()> ready;             // /ready answers 200 when true, else 503
};

/// Binds `server` to host:port (port 0: any free port) and returns the port; std::runtime_error if it cannot.
int bind_http(httplib::Server& server, const std::string& host, int port);

/// Adds /metrics, /health and /ready to `server`.
void add_ops_routes(httplib::Server& server, OpsStatus status);

/// A small HTTP server with just the operations endpoints (verifier and drafter nodes).
class OpsHttp {
 public:
  /// Binds HOST:PORT (port 0: any free port).
  OpsHttp(const std::string& address, OpsStatus status);
  ~OpsHttp();
  OpsHttp(const OpsHttp&) = delete;
  OpsHttp& operator=(const OpsHttp&) = delete;
  /// http://HOST:PORT as bound.
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<httplib::Server> http_;
  std::string address_;
  std::thread thread_;
};

}  // namespace tandem
