#pragma once
// What the HTTP server decides from a request's header alone, before it reads a byte of
// body: which route, whether the caller may use it (API key), and whether the body may be
// read at all (Content-Encoding, declared length, a route that takes none). A pure function
// of the header, the routes and the limits, so that it is fuzzed and tested on its own.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <utility>
#include <vector>

#include "server/http_server.h"

namespace tandem {

/// The parser every request goes through.
using HttpParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

/// A parser with `limits`' header and body limits.
void limit_parser(HttpParser& parser, const HttpLimits& limits);

/// The verdict on a request whose header has been parsed.
struct HttpScreening {
  int status = 0;  // 0: go on (read the body if read_body, then call route's handler); else refuse with it
  std::string reason;
  std::vector<std::pair<std::string, std::string>> fields;  // extra header fields of the refusal
  const HttpRoute* route = nullptr;
  bool read_body = false;
  HttpRequest request;  // method, path, query, fields, key_name (no body, no peer yet)
};

/// Screens the request in `parser` (its header done) against `routes` and `limits`.
HttpScreening screen_request(const HttpParser& parser, const std::vector<HttpRoute>& routes, const HttpLimits& limits);

}  // namespace tandem
