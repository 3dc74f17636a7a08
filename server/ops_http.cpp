#include "server/ops_http.h"

#include <httplib.h>
#include <malloc.h>

#include <stdexcept>

#include "cluster/control_plane.h"
#include "cluster/metrics.h"

namespace tandem {

int bind_http(httplib::Server& server, const std::string& host, int port) {
  const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) throw std::runtime_error("cannot listen for HTTP on " + host + ":" + std::to_string(port));
  return bound;
}

void add_ops_routes(httplib::Server& server, OpsStatus status) {
  server.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics().scrape(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/health", [health = status.health](const httplib::Request&, httplib::Response& res) {
    nlohmann::json body = health ? health() : nlohmann::json::object();
    body["status"] = "ok";
    // What malloc has handed out and not had back (every arena, mmapped chunks too): if the
    // resident size grows while this stays flat, it is fragmentation, not a leak.
    const struct mallinfo2 heap = mallinfo2();
    body["heap_allocated_bytes"] = heap.uordblks + heap.hblkhd;
    res.set_content(body.dump(), "application/json");
  });
  server.Get("/ready", [ready = status.ready](const httplib::Request&, httplib::Response& res) {
    const bool is_ready = !ready || ready();
    res.status = is_ready ? 200 : 503;
    res.set_content(nlohmann::json{{"ready", is_ready}}.dump(), "application/json");
  });
}

OpsHttp::OpsHttp(const std::string& address, OpsStatus status) : http_(std::make_unique<httplib::Server>()) {
  auto [host, port] = split_host_port(address);
  add_ops_routes(*http_, std::move(status));
  address_ = "http://" + host + ":" + std::to_string(bind_http(*http_, host, port));
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

OpsHttp::~OpsHttp() {
  http_->stop();
  thread_.join();
}

}  // namespace tandem
