#pragma once
// The side of a connection an HttpExchange talks to (implemented by the server's sessions),
// and the formatting of HTTP/1.1 replies.
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tandem {

/// One client connection, as its answer sees it. Every call is thread-safe and returns at once.
class HttpConnection {
 public:
  virtual ~HttpConnection() = default;
  /// Queues bytes of the answer; `last`: the answer ends with them (then the connection
  /// waits for the next request, or closes if `keep_alive` is false).
  virtual void send(std::string bytes, bool last, bool keep_alive) = 0;
  /// Closes the connection (an answer that cannot be finished).
  virtual void abort() = 0;
  /// See HttpExchange::on_close.
  virtual void on_close(std::function<void()> gone) = 0;
};

/// Status line, fields and body of a whole reply with Content-Length.
std::string format_http_reply(int status, const std::string& body, const std::string& content_type,
                              const std::vector<std::pair<std::string, std::string>>& fields, bool keep_alive);

/// Status line and fields of a 200 reply whose body follows in chunks.
std::string format_http_stream_head(const std::string& content_type, bool keep_alive);

/// One chunk of a chunked body (empty data: nothing, since an empty chunk would end it).
std::string format_http_chunk(const std::string& data);

}  // namespace tandem
