#pragma once
// An OpenAI-compatible HTTP endpoint: /v1/completions and /v1/chat/completions
// (streaming as server-sent events), /v1/models and /health. Each HTTP request
// becomes a worker request whose replies come back through deliver().
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "model/model.h"
#include "server/http_server.h"
#include "server/openai_logprobs.h"
#include "server/request_backend.h"

namespace boost::asio {
class thread_pool;
}

namespace tandem {

/// Serves HTTP on its own threads (an HttpServer), handing requests to a RequestBackend.
class HttpGateway {
 public:
  /// Binds host:port (port 0: any free port) for `worker`, which runs `model` (its tokenizer and name are used here).
  /// std::invalid_argument if the TLS files in `limits` do not load.
  HttpGateway(const std::string& host, int port, RequestBackend& worker, const Model& model, HttpLimits limits = {});
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

  /// The port it listens on.
  int port() const { return http_->port(); }
  /// "https" with a certificate, else "http".
  const char* scheme() const { return http_->scheme(); }
  /// Whether a worker client id belongs to this gateway.
  static bool owns(const std::string& client);
  /// New HTTP requests get 503 from now on; requests already submitted still get their replies.
  void refuse_new();
  /// A worker reply for one of this gateway's clients.
  void deliver(const std::string& client, const wire::ServerMessage& message);
  /// Adds `more()`'s fields to every /health answer (what else runs in this process).
  void add_health(std::function<nlohmann::json()> more);

 private:
  // A submitted request waiting for its worker replies.
  struct Pending {
    std::shared_ptr<HttpExchange> exchange;
    std::string id;                                        // the request id, as in the replies
    bool chat = false, stream = false, streaming = false;  // streaming: the event stream has begun
    long created = 0;
    bool logprobs = false;                // the answer carries log probabilities
    std::map<uint32_t, int64_t> offsets;  // streamed completions: each choice's text bytes so far
  };
  std::vector<HttpRoute> routes();
  // Reads, checks and submits one completion request (on the pool, off the server's threads).
  void complete(const std::shared_ptr<HttpExchange>& exchange, bool chat);
  // A choice's log probabilities in the request's format (null when it asked for none).
  nlohmann::json logprobs_json(Pending& pending, uint32_t index, const WireLogprobs& logprobs) const;
  // One reply for a pending request; true when it was the last.
  bool answer(Pending& pending, const wire::ServerMessage& message);

  RequestBackend& worker_;
  const Model& model_;
  std::unique_ptr<boost::asio::thread_pool> pool_;  // parses bodies: a 4 MB JSON body takes a while
  std::mutex submit_mutex_;                         // guards closing_ and each hand-over to the worker
  bool closing_ = false;
  std::mutex pending_mutex_;
  std::map<std::string, Pending> pending_;  // by worker client id
  std::mutex health_mutex_;
  std::function<nlohmann::json()> more_health_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace tandem
