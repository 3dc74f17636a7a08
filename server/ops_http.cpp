#include "server/ops_http.h"

#include <malloc.h>

#include "observability/metrics.h"
#include "transport/control_plane.h"

namespace tandem {

std::vector<HttpRoute> ops_routes(OpsStatus status) {
  auto get = [](const std::string& path, HttpHandler handler) {
    return HttpRoute{.method = "GET", .path = path, .open = true, .takes_body = false, .handler = std::move(handler)};
  };
  return {
      get("/metrics",
          [](std::shared_ptr<HttpExchange> exchange) {
            exchange->reply(200, metrics().scrape(), "text/plain; version=0.0.4; charset=utf-8");
          }),
      get("/health",
          [health = status.health](std::shared_ptr<HttpExchange> exchange) {
            nlohmann::json body = health ? health() : nlohmann::json::object();
            body["status"] = "ok";
            // What malloc has handed out and not had back (every arena, mmapped chunks too): if the
            // resident size grows while this stays flat, it is fragmentation, not a leak.
            const struct mallinfo2 heap = mallinfo2();
            body["heap_allocated_bytes"] = heap.uordblks + heap.hblkhd;
            exchange->reply(200, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
          }),
      get("/ready",
          [ready = status.ready](std::shared_ptr<HttpExchange> exchange) {
            const bool is_ready = !ready || ready();
            exchange->reply(is_ready ? 200 : 503, nlohmann::json{{"ready", is_ready}}.dump());
          }),
  };
}

OpsHttp::OpsHttp(const std::string& address, OpsStatus status) {
  auto [host, port] = split_host_port(address);
  HttpLimits limits;
  limits.threads = 1;  // a handful of probes and scrapes: one event loop is plenty
  http_ = std::make_unique<HttpServer>(host, port, limits, ops_routes(std::move(status)));
  address_ = "http://" + host + ":" + std::to_string(http_->port());
}

}  // namespace tandem
