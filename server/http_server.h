#pragma once
// An event-driven HTTP/1.1 server (Boost.Beast on Asio): a few threads serve any number of
// connections, idle or slow ones included, so none of them can starve /health.
//
// What a peer can make it spend is bounded before it spends it:
//   accept ─▶ [TLS handshake ≤ timeout] ─▶ idle (keep-alive, ≤ idle_timeout, no buffer)
//     ─▶ header (whole header ≤ timeout, ≤ max_header_bytes and max_header_fields)
//     ─▶ route, API key, Content-Encoding and declared length checked: refusals read no body
//     ─▶ body (whole body ≤ timeout, ≤ max_body_bytes as the handler sees it, chunked or not)
//     ─▶ handler; while it answers, a client that leaves is noticed at once (on_close)
//     ─▶ reply or event stream (each write ≤ timeout; a stream client too far behind is dropped)
//     ─▶ idle again, or closed
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tandem {

/// What one HTTP client may cost the server.
struct HttpLimits {
  size_t max_body_bytes = size_t(4) << 20;    // larger bodies (after chunked decoding) get 413, unread
  size_t max_header_bytes = 16 << 10;         // request line and header fields together; else 431
  size_t max_header_fields = 100;             // else 431
  size_t max_connections = 16384;             // open connections; more are closed at once
  size_t max_stream_backlog_bytes = 1 << 20;  // streamed bytes a client may leave unread before it is dropped
  size_t send_buffer_bytes = 0;  // each connection's kernel send buffer (SO_SNDBUF); 0: the kernel's autotuning
  int threads = 2;               // event loop threads: every connection shares them
  int read_timeout_s = 10;       // deadline for a whole header, a whole body, a TLS handshake and each write
  int idle_timeout_s = 60;       // a keep-alive connection with no request for this long is closed
  // API keys -> their names: when not empty, every path but the open ones (/health, /ready,
  // /metrics) needs "Authorization: Bearer KEY", checked before a byte of body is read.
  std::map<std::string, std::string> api_keys;
  // HTTPS when both are set: PEM certificate (chain) and its private key.
  std::string tls_cert_file, tls_key_file;
};

/// One request as the handler sees it: header read, body complete.
struct HttpRequest {
  std::string method, path, query;  // path without the query; query without the '?'
  std::string body;
  std::string peer;      // the client's address, without the port
  std::string key_name;  // the name of the API key it carried, if keys are on
};

class HttpConnection;

/// The answer to one request: a reply, or an event stream. Thread-safe; every call after the
/// client has gone is a no-op. Dropped without an answer, it answers 500.
class HttpExchange {
 public:
  HttpExchange(std::shared_ptr<HttpConnection> connection, HttpRequest request, bool keep_alive);
  ~HttpExchange();
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  const HttpRequest& request() const { return request_; }
  /// A whole reply with Content-Length.
  void reply(int status, const std::string& body, const std::string& content_type = "application/json",
             const std::vector<std::pair<std::string, std::string>>& fields = {});
  /// Starts a 200 reply in chunked transfer encoding; stream() sends its pieces, end_stream() ends it.
  void start_stream(const std::string& content_type);
  void stream(const std::string& data);
  void end_stream();
  /// `gone` runs once, on a server thread, if the client leaves (or is dropped) before the
  /// answer has been sent; at once if it has left already.
  void on_close(std::function<void()> gone);

 private:
  std::shared_ptr<HttpConnection> connection_;
  HttpRequest request_;
  bool keep_alive_;
  std::atomic<bool> answered_{false}, ended_{false};
};

/// What a route does with a request; it runs on a server thread and must not block.
using HttpHandler = std::function<void(std::shared_ptr<HttpExchange>)>;

/// One path the server answers.
struct HttpRoute {
  std::string method;  // "GET", "POST"
  std::string path;
  bool open = false;        // answered without an API key (probes, Prometheus)
  bool takes_body = false;  // false: a request that sends a body is refused unread (413)
  HttpHandler handler;
};

/// Listens on host:port and serves `routes` on its own threads until destroyed.
class HttpServer {
 public:
  /// Binds host:port (0: any free port). std::invalid_argument if the TLS files do not load,
  /// std::runtime_error if it cannot listen.
  HttpServer(const std::string& host, int port, HttpLimits limits, std::vector<HttpRoute> routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The port it listens on.
  int port() const;
  /// "https" with a certificate, else "http".
  const char* scheme() const;
  /// Stops serving (idempotent): no handler runs after it returns, and what exchanges still
  /// send is dropped. The destructor stops first; call it earlier to let go of exchanges
  /// before the server goes.
  void stop();

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

/// An OpenAI-style error: {"error": {"message": ..., "type": ...}}, as JSON and as its text.
nlohmann::json http_error_json(const std::string& message, const std::string& type);
std::string http_error_body(const std::string& message, const std::string& type);

}  // namespace tandem
