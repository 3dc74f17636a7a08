#include <boost/beast/http/status.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "server/http_connection.h"
#include "server/http_server.h"

namespace tandem {

nlohmann::json http_error_json(const std::string& message, const std::string& type) {
  return {{"error", {{"message", message}, {"type", type}}}};
}

std::string http_error_body(const std::string& message, const std::string& type) {
  return http_error_json(message, type).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

std::string status_line(int status) {
  const auto reason = boost::beast::http::obsolete_reason(boost::beast::http::int_to_status(unsigned(status)));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.empty() ? "Unknown" : reason) + "\r\n";
}

std::string connection_field(bool keep_alive) { return keep_alive ? "" : "Connection: close\r\n"; }

}  // namespace

std::string format_http_reply(int status, const std::string& body, const std::string& content_type,
                              const std::vector<std::pair<std::string, std::string>>& fields, bool keep_alive) {
  std::string out = status_line(status) + "Server: tandem\r\nContent-Type: " + content_type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + connection_field(keep_alive);
  for (const auto& [name, value] : fields) out += name + ": " + value + "\r\n";
  return out + "\r\n" + body;
}

std::string format_http_stream_head(const std::string& content_type, bool keep_alive) {
  return status_line(200) + "Server: tandem\r\nContent-Type: " + content_type +
         "\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n" + connection_field(keep_alive) + "\r\n";
}

std::string format_http_chunk(const std::string& data) {
  if (data.empty()) return "";
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

HttpExchange::HttpExchange(std::shared_ptr<HttpConnection> connection, HttpRequest request, bool keep_alive)
    : connection_(std::move(connection)), request_(std::move(request)), keep_alive_(keep_alive) {}

HttpExchange::~HttpExchange() {
  if (!answered_)
    reply(500, http_error_body("internal error: the request was dropped unanswered", "server_error"));
  else if (!ended_)
    connection_->abort();  // a stream nobody will end
}

void HttpExchange::reply(int status, const std::string& body, const std::string& content_type,
                         const std::vector<std::pair<std::string, std::string>>& fields) {
  if (answered_.exchange(true)) return;
  ended_ = true;
  connection_->send(format_http_reply(status, body, content_type, fields, keep_alive_), true, keep_alive_);
}

void HttpExchange::start_stream(const std::string& content_type) {
  if (answered_.exchange(true)) return;
  connection_->send(format_http_stream_head(content_type, keep_alive_), false, keep_alive_);
}

void HttpExchange::stream(const std::string& data) {
  if (!ended_) connection_->send(format_http_chunk(data), false, keep_alive_);
}

void HttpExchange::end_stream() {
  if (!ended_.exchange(true)) connection_->send("0\r\n\r\n", true, keep_alive_);
}

void HttpExchange::on_close(std::function<void()> gone) { connection_->on_close(std::move(gone)); }

}  // namespace tandem
