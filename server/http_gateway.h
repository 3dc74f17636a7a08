#pragma once
// An OpenAI-compatible HTTP endpoint: /v1/completions and /v1/chat/completions
// (streaming as server-sent events), /v1/models and /health. Each HTTP request
// becomes a worker request whose replies come back through deliver().
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "model/model.h"
#include "server/request_backend.h"

namespace httplib {
class Server;
}

namespace tandem {

/// What one HTTP client may cost the server.
struct HttpLimits {
  size_t max_body_bytes = size_t(4) << 20;  // larger request bodies get 413, unread
  int threads = 128;                        // connections served at once (idle ones included)
  int read_timeout_s = 10;                  // a client silent this long mid-request is dropped
  // API keys -> their names: when not empty, /v1/ needs "Authorization: Bearer KEY"
  // (/health, /ready and /metrics stay open for probes and Prometheus).
  std::map<std::string, std::string> api_keys;
  // HTTPS when both are set: PEM certificate (chain) and its private key.
  std::string tls_cert_file, tls_key_file;
};

/// Serves HTTP on its own threads, handing requests to a RequestBackend.
class HttpGateway {
 public:
  /// Binds host:port (port 0: any free port) for `worker`, which runs `model` (its tokenizer and name are used here).
  /// std::invalid_argument if the TLS files in `limits` do not load.
  HttpGateway(const std::string& host, int port, RequestBackend& worker, const Model& model, HttpLimits limits = {});
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  /// The port it listens on.
  int port() const { return port_; }
  /// "https" with a certificate, else "http".
  const char* scheme() const { return tls_ ? "https" : "http"; }
  /// Whether a worker client id belongs to this gateway.
  static bool owns(const std::string& client);
  /// New HTTP requests get 503 from now on; requests already submitted still get their replies.
  void refuse_new();
  /// A worker reply for one of this gateway's clients.
  void deliver(const std::string& client, const wire::ServerMessage& message);
  /// Adds `more()`'s fields to every /health answer (what else runs in this process).
  void add_health(std::function<nlohmann::json()> more);

 private:
  struct Mailbox {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<wire::ServerMessage> messages;
  };
  void routes();
  std::shared_ptr<Mailbox> open_mailbox(const std::string& client);
  void close_mailbox(const std::string& client);

  RequestBackend& worker_;
  const Model& model_;
  std::map<std::string, std::string> api_keys_;  // key -> name, for the client's name in the logs
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  bool tls_ = false;
  std::mutex submit_mutex_;  // guards closing_ and each hand-over to the worker
  bool closing_ = false;
  std::mutex mailboxes_mutex_;
  std::map<std::string, std::shared_ptr<Mailbox>> mailboxes_;
  std::mutex health_mutex_;
  std::function<nlohmann::json()> more_health_;
  std::thread thread_;
};

}  // namespace tandem
