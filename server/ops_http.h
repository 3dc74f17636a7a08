#pragma once
// The operations endpoints every node serves on its HTTP port: /metrics (Prometheus
// text format), /health (the process is alive, with a JSON body of figures) and
// /ready (200 once the node can do its work: model loaded, joined the cluster).
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/http_server.h"

namespace tandem {

/// What a node says about itself.
struct OpsStatus {
  std::function<nlohmann::json()> health;  // the body of /health
  std::function<bool()> ready;             // /ready answers 200 when true, else 503
};

/// GET /metrics, /health and /ready: open to all (probes, Prometheus), and they read no body.
std::vector<HttpRoute> ops_routes(OpsStatus status);

/// A small HTTP server with just the operations endpoints (verifier, drafter and shard nodes).
class OpsHttp {
 public:
  /// Binds HOST:PORT (port 0: any free port).
  OpsHttp(const std::string& address, OpsStatus status);
  /// http://HOST:PORT as bound.
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<HttpServer> http_;
  std::string address_;
};

}  // namespace tandem
