// Raw bytes of HTTP requests as a client sends them, through the server's parser with its
// limits and its screening (route, API key, encoding, declared length), then the body when
// the screening lets it be read: every input ends in a verdict, never a crash, an
// allocation past the limits or a hang. The first byte picks API keys on or off.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_prefix.hpp>

#include "fuzz_input.h"
#include "server/http_screen.h"

namespace {

const std::vector<tandem::HttpRoute>& routes() {
  static const std::vector<tandem::HttpRoute> all = {
      {.method = "GET", .path = "/health", .open = true, .handler = {}},
      {.method = "GET", .path = "/v1/models", .handler = {}},
      {.method = "POST", .path = "/v1/completions", .takes_body = true, .handler = {}},
  };
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  tandem::HttpLimits limits;
  limits.max_body_bytes = 1 << 16;
  limits.max_header_bytes = 4096;
  if (data[0] & 1) limits.api_keys = {{"sk-fuzz-0123456789abcdef", "fuzz"}};
  boost::asio::const_buffer rest(data + 1, size - 1);
  tandem::HttpParser parser;
  tandem::limit_parser(parser, limits);
  parser.eager(false);
  boost::beast::error_code ec;
  while (rest.size() > 0 && !parser.is_header_done()) {
    const size_t used = parser.put(rest, ec);
    if (ec || used == 0) return 0;  // malformed, over the limit, or needs more than there is
    rest += used;
  }
  if (!parser.is_header_done()) return 0;
  const tandem::HttpScreening screening = tandem::screen_request(parser, routes(), limits);
  if (screening.status != 0 || !screening.read_body) return 0;
  parser.eager(true);
  while (rest.size() > 0 && !parser.is_done()) {
    const size_t used = parser.put(rest, ec);
    if (ec || used == 0) return 0;
    rest += used;
  }
  if (parser.get().body().size() > limits.max_body_bytes) __builtin_trap();  // the limit did not hold
  return 0;
}
