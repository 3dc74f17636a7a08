#include "server/http_screen.h"

#include <boost/beast/core/string.hpp>
#include <optional>

namespace tandem {
namespace http = boost::beast::http;

namespace {

// Whether a and b are equal, in a time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The name of the API key in an "Authorization: Bearer KEY" value, if it is one of `keys`.
std::optional<std::string> api_key_name(std::string_view authorization,
                                        const std::map<std::string, std::string>& keys) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.substr(0, scheme.size()) != scheme) return std::nullopt;
  const std::string_view given = authorization.substr(scheme.size());
  std::optional<std::string> name;
  for (const auto& [key, key_name] : keys)  // every key compared, so the time says nothing either
    if (same_secret(given, key)) name = key_name;
  return name;
}

HttpScreening refusal(HttpScreening s, int status, std::string reason) {
  s.status = status;
  s.reason = std::move(reason);
  return s;
}

}  // namespace

void limit_parser(HttpParser& parser, const HttpLimits& limits) {
  parser.header_limit(uint32_t(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
}

HttpScreening screen_request(const HttpParser& parser, const std::vector<HttpRoute>& routes, const HttpLimits& limits) {
  HttpScreening s;
  const auto& head = parser.get();
  if (size_t(std::distance(head.begin(), head.end())) > limits.max_header_fields)
    return refusal(std::move(s), 431, "more than " + std::to_string(limits.max_header_fields) + " header fields");
  const std::string_view target = head.target();
  const size_t question = target.find('?');
  HttpRequest& request = s.request;
  request.method = std::string(head.method_string());
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));

  const auto key =
      limits.api_keys.empty() ? std::nullopt : api_key_name(head[http::field::authorization], limits.api_keys);
  if (key) request.key_name = *key;
  bool path_known = false, open = false;
  for (const HttpRoute& r : routes)
    if (r.path == request.path) {
      path_known = true;
      open = r.open;
      if (r.method == request.method) s.route = &r;
    }
  if (!limits.api_keys.empty() && !open && !key) {
    s.fields = {{"WWW-Authenticate", "Bearer"}};
    return refusal(std::move(s), 401, "a valid API key is required (Authorization: Bearer KEY)");
  }
  if (!path_known) return refusal(std::move(s), 404, "no such path: " + request.path);
  if (!s.route) return refusal(std::move(s), 405, "this path does not take " + request.method);
  s.read_body = parser.chunked() || (parser.content_length() && *parser.content_length() > 0);
  if (!s.read_body) return s;
  if (!s.route->takes_body) return refusal(std::move(s), 413, request.path + " takes no request body");
  const auto encoding = head[http::field::content_encoding];
  if (!encoding.empty() && !boost::beast::iequals(encoding, "identity"))
    return refusal(std::move(s), 415,
                   "compressed request bodies (Content-Encoding: " + std::string(encoding) +
                       ") are not accepted; send the body as it is");
  if (parser.content_length() && *parser.content_length() > limits.max_body_bytes)
    return refusal(std::move(s), 413, "the body is larger than " + std::to_string(limits.max_body_bytes) + " bytes");
  return s;
}

}  // namespace tandem
