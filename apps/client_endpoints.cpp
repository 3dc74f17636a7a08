#include "apps/client_endpoints.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "transport/control_plane.h"

namespace tandem {

void write_endpoint_file(const std::string& path, const std::vector<std::string>& lines) {
  if (path.empty()) return;
  const std::string temporary = path + ".partial";
  {
    std::ofstream out(temporary);
    for (const std::string& line : lines) out << line << "\n";
  }
  std::filesystem::rename(temporary, path);
}

ReplySink ClientEndpoints::sink() {
  return [this](const std::string& client, const wire::ServerMessage& m) {
    std::lock_guard lock(wiring_);
    if (HttpGateway::owns(client)) {
      if (gateway_open_) gateway_->deliver(client, m);
    } else if (frontend_open_) {
      frontend_->reply(client, m);
    }
  };
}

void ClientEndpoints::open(RequestBackend& backend, const Model& model, const std::string& listen,
                           const std::string& http, const ClientEndpointSettings& settings) {
  auto frontend = std::make_unique<ZmqFrontend>(
      listen,
      [this](const std::string& client, const wire::ClientMessage& m) {
        std::lock_guard lock(wiring_);
        if (!backend_) return;
        backend_->heard_from(client);
        auto refuse = [&](const std::string& id, wire::ErrorCode code, const std::string& why) {
          wire::ServerMessage refused;
          refused.mutable_error()->set_request_id(id);
          refused.mutable_error()->set_code(code);
          refused.mutable_error()->set_message(why);
          frontend_->reply(client, refused);
        };
        if (m.has_submit() && m.submit().request_id().size() > kMaxRequestIdBytes)  // not echoed: that is the point
          refuse("", wire::INVALID_ARGUMENT,
                 "the request id has " + std::to_string(m.submit().request_id().size()) + " bytes; at most " +
                     std::to_string(kMaxRequestIdBytes) + " are allowed");
        else if (m.has_submit() && draining_)
          refuse(m.submit().request_id(), wire::UNAVAILABLE, "the server is shutting down");
        else if (m.has_submit())
          backend_->submit(client, m.submit());
        else if (m.has_cancel())
          backend_->cancel(client, m.cancel().request_id());
      },
      settings.curve ? &*settings.curve : nullptr,
      [this](const std::string& client) {  // its connection closed: nobody waits for its answers
        std::lock_guard lock(wiring_);
        if (backend_) backend_->client_gone(client);
      });
  std::unique_ptr<HttpGateway> gateway;
  if (!http.empty()) {
    auto [host, port] = split_host_port(http);
    gateway = std::make_unique<HttpGateway>(host, port, backend, model, settings.http);
    http_address_ = std::string(gateway->scheme()) + "://" + host + ":" + std::to_string(gateway->port());
  }
  std::lock_guard lock(wiring_);
  backend_ = &backend;
  frontend_ = std::move(frontend);
  gateway_ = std::move(gateway);
  frontend_open_ = true;
  gateway_open_ = bool(gateway_);
}

void ClientEndpoints::serve_until(const volatile std::sig_atomic_t& stop) {
  wire::ServerMessage heartbeat;
  heartbeat.mutable_heartbeat();
  for (int tick = 1; !stop; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (tick % 10) continue;
    std::lock_guard lock(wiring_);
    if (!backend_ || !frontend_open_) continue;
    for (const std::string& client : backend_->live_clients())
      if (!HttpGateway::owns(client)) frontend_->reply(client, heartbeat);
  }
}

void ClientEndpoints::drain(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(wiring_);
    draining_ = true;
    if (gateway_) gateway_->refuse_new();
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(wiring_);
      if (!backend_ || backend_->live_requests() == 0) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void ClientEndpoints::stop_admitting() {
  std::lock_guard lock(wiring_);
  backend_ = nullptr;
  if (gateway_) gateway_->refuse_new();
}

void ClientEndpoints::close() {
  stop_admitting();
  {
    std::lock_guard lock(wiring_);
    gateway_open_ = frontend_open_ = false;
  }
  gateway_.reset();  // outside the lock: its threads may be delivering
  frontend_.reset();
}

void ClientEndpoints::add_health(std::function<nlohmann::json()> more) {
  std::lock_guard lock(wiring_);
  if (gateway_) gateway_->add_health(std::move(more));
}

}  // namespace tandem
