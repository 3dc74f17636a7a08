// What the HTTP server decides from a request's header alone (server/http_screen.h), before a
// byte of body is read: the route, the API key (on every path, unknown ones included), the
// method, whether a body may come at all, its encoding and its declared length.
#include "server/http_screen.h"

#include <gtest/gtest.h>

#include <boost/beast/http/error.hpp>

namespace tandem {
namespace {

const std::vector<HttpRoute> kRoutes = {
    {.method = "GET", .path = "/health", .open = true, .handler = {}},
    {.method = "GET", .path = "/v1/models", .handler = {}},
    {.method = "POST", .path = "/v1/completions", .takes_body = true, .handler = {}},
};

// The screening of a raw request header (with the blank line that ends it).
HttpScreening screen(const std::string& head, bool keys = true) {
  HttpLimits limits;
  limits.max_body_bytes = 1000;
  limits.max_header_fields = 8;
  if (keys) limits.api_keys = {{"sk-test-0123456789abcdef", "tester"}};
  HttpParser parser;
  limit_parser(parser, limits);
  parser.eager(false);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(head), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  return screen_request(parser, kRoutes, limits);
}

const std::string kKey = "Authorization: Bearer sk-test-0123456789abcdef\r\n";

TEST(HttpScreen, KeysComeFirstOnEveryPathButTheOpenOnes) {
  EXPECT_EQ(screen("POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\n").status, 401);
  EXPECT_EQ(screen("GET /nowhere HTTP/1.1\r\n\r\n").status, 401);  // an unknown path says nothing either
  EXPECT_EQ(screen("GET /v1/models HTTP/1.1\r\nAuthorization: Bearer sk-test-0123456789abcdeX\r\n\r\n").status, 401);
  EXPECT_EQ(screen("GET /health HTTP/1.1\r\n\r\n").status, 0);
  const HttpScreening keyed = screen("GET /v1/models?x=1 HTTP/1.1\r\n" + kKey + "\r\n");
  EXPECT_EQ(keyed.status, 0);
  EXPECT_EQ(keyed.request.key_name, "tester");
  EXPECT_EQ(keyed.request.path, "/v1/models");
  EXPECT_EQ(keyed.request.query, "x=1");
  EXPECT_EQ(screen("GET /nowhere HTTP/1.1\r\n" + kKey + "\r\n").status, 404);
  EXPECT_EQ(screen("GET /nowhere HTTP/1.1\r\n\r\n", false).status, 404);
}

TEST(HttpScreen, MethodsBodiesEncodingsAndLengths) {
  EXPECT_EQ(screen("POST /health HTTP/1.1\r\n\r\n").status, 405);
  EXPECT_EQ(screen("GET /v1/completions HTTP/1.1\r\n" + kKey + "\r\n").status, 405);
  EXPECT_EQ(screen("GET /health HTTP/1.1\r\nContent-Length: 3\r\n\r\n").status, 413);  // probes take no body
  EXPECT_EQ(screen("GET /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status, 413);
  EXPECT_EQ(
      screen("POST /v1/completions HTTP/1.1\r\n" + kKey + "Content-Encoding: gzip\r\nContent-Length: 5\r\n\r\n").status,
      415);
  {  // a declared length past the limit: the parser itself stops at the header (the server answers 413)
    HttpLimits limits;
    limits.max_body_bytes = 1000;
    HttpParser parser;
    limit_parser(parser, limits);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(std::string("POST /v1/completions HTTP/1.1\r\nContent-Length: 1001\r\n\r\n")), ec);
    EXPECT_EQ(ec, boost::beast::http::error::body_limit);
  }
  const HttpScreening fits = screen("POST /v1/completions HTTP/1.1\r\n" + kKey + "Content-Length: 1000\r\n\r\n");
  EXPECT_EQ(fits.status, 0);
  EXPECT_TRUE(fits.read_body);
  const HttpScreening chunked = screen("POST /v1/completions HTTP/1.1\r\n" + kKey +
                                       "Content-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(chunked.status, 0);
  EXPECT_TRUE(chunked.read_body);  // its decoded length is the parser's body limit to hold
  EXPECT_FALSE(screen("POST /v1/completions HTTP/1.1\r\n" + kKey + "\r\n").read_body);
}

TEST(HttpScreen, TooManyHeaderFieldsGet431) {
  std::string head = "GET /health HTTP/1.1\r\n";
  for (int i = 0; i < 9; ++i) head += "X-" + std::to_string(i) + ": 1\r\n";
  EXPECT_EQ(screen(head + "\r\n").status, 431);
}

}  // namespace
}  // namespace tandem
