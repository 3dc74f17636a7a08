// The front doors against what got through before (issue 27): compressed bombs and
// chunked floods on every HTTP path and ops port, keys before bodies, slow headers,
// thousands of idle keep-alive connections, oversized headers, huge prompts; ZeroMQ
// clients that leave without heartbeats, one process with many connections, long request
// ids; and the HTTP/1.1 a real client relies on (100-continue, pipelining). Each runs
// `tandem serve` (and a shard node, for the ops ports) as a real process.
#include <sys/resource.h>
#include <zlib.h>

#include <future>

#include "process_helpers.h"
#include "raw_connection.h"

namespace tandem {
namespace {

using test::RawConnection;
using test::Server;

constexpr const char* kKey = "sk-alice-0123456789abcdef";

// `zeros` zero bytes, gzip-compressed (about a thousandth of their size).
std::string gzip_of_zeros(size_t zeros) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  const std::string input(1 << 20, '\0');
  std::string out;
  char buffer[1 << 16];
  for (size_t left = zeros; left > 0 || z.avail_in > 0;) {
    if (z.avail_in == 0) {
      const size_t n = std::min(left, input.size());
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
      z.avail_in = uInt(n);
      left -= n;
    }
    const int flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof buffer;
      deflate(&z, flush);
      out.append(buffer, sizeof buffer - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  return out;
}

std::string post_head(const std::string& path, const std::string& more_fields) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + more_fields + "\r\n";
}

std::string status_of(const std::string& reply) { return reply.substr(0, reply.find("\r\n")); }

std::unique_ptr<Server> serve_with_key(const std::vector<std::string>& more = {}) {
  std::vector<std::string> args = {"--http", "127.0.0.1:0", "--api-keys", kKey};
  args.insert(args.end(), more.begin(), more.end());
  return std::make_unique<Server>(args);
}

TEST(HttpAbuse, CompressedBodiesAreRefusedUnreadOnEveryPathAndPort) {
  auto server = serve_with_key();
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  auto shard = std::make_unique<Server>(
      std::vector<std::string>{"node", "--role", "shard", "--listen", "tcp://127.0.0.1:0", "--threads", "1"},
      std::vector<std::string>{});
  ASSERT_FALSE(shard->http().empty()) << "the shard node did not start";
  const std::string bomb = gzip_of_zeros(size_t(1) << 30);  // 1 GiB inflated
  ASSERT_LT(bomb.size(), size_t(2) << 20);
  struct Case {
    const Server* process;
    std::string method, path, fields, status;
  };
  const std::string key = "Authorization: Bearer " + std::string(kKey) + "\r\n";
  const std::vector<Case> cases = {
      {server.get(), "POST", "/v1/completions", key, "415 Unsupported Media Type"},
      {server.get(), "POST", "/v1/completions", "", "401 Unauthorized"},  // the key first: no body read
      {server.get(), "GET", "/v1/completions", key, "405 Method Not Allowed"},
      {server.get(), "GET", "/health", "", "413 Payload Too Large"},  // open to all, and reads no body
      {server.get(), "POST", "/health", "", "405 Method Not Allowed"},
      {server.get(), "POST", "/nowhere", "", "401 Unauthorized"},
      {server.get(), "POST", "/nowhere", key, "404 Not Found"},
      {shard.get(), "GET", "/health", "", "413 Payload Too Large"},
      {shard.get(), "GET", "/metrics", "", "413 Payload Too Large"},
      {shard.get(), "POST", "/ready", "", "405 Method Not Allowed"},
  };
  const long server_before = test::peak_rss_kb(server->pid()), shard_before = test::peak_rss_kb(shard->pid());
  for (const Case& c : cases) {
    RawConnection raw(c.process->http());
    ASSERT_TRUE(raw.connected());
    raw.send_text(c.method + " " + c.path + " HTTP/1.1\r\nHost: x\r\n" + c.fields +
                  "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(bomb.size()) + "\r\n\r\n" + bomb);
    EXPECT_EQ(status_of(raw.read_all(std::chrono::seconds(5))), "HTTP/1.1 " + c.status) << c.method << " " << c.path;
  }
  EXPECT_LT(test::peak_rss_kb(server->pid()) - server_before, 10 * 1024) << "serve's peak memory grew";
  EXPECT_LT(test::peak_rss_kb(shard->pid()) - shard_before, 10 * 1024) << "the shard's peak memory grew";
  httplib::Client http(server->http());
  EXPECT_EQ(http.Get("/health")->status, 200);
}

TEST(HttpAbuse, ChunkedBodiesCountAgainstTheLimitAndKeysComeFirst) {
  auto server = serve_with_key();
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  const long before = test::peak_rss_kb(server->pid());
  const std::string chunk = std::string("10000\r\n") + std::string(0x10000, 'a') + "\r\n";  // 64 KiB
  auto flood = [&](const std::string& head, size_t chunks) {
    RawConnection raw(server->http());
    raw.send_text(head + "{\"prompt\": \"\r\n");
    for (size_t i = 0; i < chunks && raw.send_text(chunk); ++i) {}
    return status_of(raw.read_all(std::chrono::seconds(5)));
  };
  const std::string chunked = "Transfer-Encoding: chunked\r\n";
  const std::string key = "Authorization: Bearer " + std::string(kKey) + "\r\n";
  // A 30 MB prompt with the key: refused once the decoded body passes --max-body-bytes.
  EXPECT_EQ(flood(post_head("/v1/completions", key + chunked) + "c\r\n", 480), "HTTP/1.1 413 Payload Too Large");
  // 100 MiB without a key, to an open path and to an unknown one: refused before a byte is read.
  EXPECT_EQ(flood(post_head("/health", chunked) + "c\r\n", 1600), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(flood(post_head("/nowhere", chunked) + "c\r\n", 1600), "HTTP/1.1 401 Unauthorized");
  EXPECT_LT(test::peak_rss_kb(server->pid()) - before, 10 * 1024) << "the server's peak memory grew";
  // A small chunked body is read whole and served.
  RawConnection raw(server->http());
  const std::string body = R"({"prompt": "Once upon", "max_tokens": 3, "temperature": 0})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", body.size() - 10);
  raw.send_text(post_head("/v1/completions", key + chunked) + size + body.substr(0, body.size() - 10) + "\r\na\r\n" +
                body.substr(body.size() - 10) + "\r\n0\r\n\r\n");
  const std::string reply = raw.read_until("\"total_tokens\"");
  EXPECT_EQ(status_of(reply), "HTTP/1.1 200 OK") << reply;
}

TEST(HttpAbuse, SlowHeadersMeetOneDeadlineAndStarveNobody) {
  auto server = std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0", "--http-timeout-s", "2"});
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 300; ++i) {
    slow.push_back(std::make_unique<RawConnection>(server->http()));
    slow.back()->send_text("GET /health HTTP/1.1\r\n");
  }
  // A header line from each every 250 ms: never idle, never done.
  const auto started = std::chrono::steady_clock::now();
  size_t open = slow.size();
  for (int round = 0; round < 24 && open > 0; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    open = 0;
    for (auto& c : slow) open += c->send_text("X-Slow-" + std::to_string(round) + ": yes\r\n") ? 1 : 0;
    if (round == 2) {  // while all 300 trickle: /health answers at once
      httplib::Client http(server->http());
      http.set_read_timeout(2, 0);
      auto health = http.Get("/health");
      ASSERT_TRUE(health) << "no /health answer with 300 slow-header connections open";
      EXPECT_EQ(health->status, 200);
    }
  }
  // Two seconds for the whole header, not per line: every one of them is closed by ~2 s.
  EXPECT_EQ(open, 0u) << "slow connections still open after "
                      << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() << " s";
}

TEST(HttpAbuse, ThousandsOfIdleKeepAliveConnectionsAreCheapAndHealthAnswers) {
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  const size_t count = std::min<size_t>(3000, files.rlim_cur > 200 ? files.rlim_cur - 200 : 0);
  ASSERT_GE(count, 1000u) << "this test process may open too few files";
  auto server = std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0"});
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  const long before = test::peak_rss_kb(server->pid());
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (size_t i = 0; i < count; ++i) {  // one request each, then kept open and silent
    idle.push_back(std::make_unique<RawConnection>(server->http()));
    ASSERT_TRUE(idle.back()->send_text("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n")) << i;
    ASSERT_EQ(status_of(idle.back()->read_until("}")), "HTTP/1.1 200 OK") << i;
  }
  httplib::Client http(server->http());
  http.set_read_timeout(2, 0);
  auto health = http.Get("/health");
  ASSERT_TRUE(health) << "no /health answer with " << count << " idle connections";
  EXPECT_EQ(health->status, 200);
  const long grown_kb = test::peak_rss_kb(server->pid()) - before;
  EXPECT_LT(grown_kb * 1024 / long(count), 8 * 1024) << grown_kb << " KB for " << count << " connections";
  // Still served, each of them.
  for (size_t i = 0; i < count; i += count / 10) {
    ASSERT_TRUE(idle[i]->send_text("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(status_of(idle[i]->read_until("}")), "HTTP/1.1 200 OK") << i;
  }
}

TEST(HttpAbuse, OversizedHeadersGet431) {
  auto server = std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0"});
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  std::string many_fields = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 150; ++i) many_fields += "X-" + std::to_string(i) + ": 1\r\n";
  std::string long_field = "GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(20000, 'a') + "\r\n";
  for (const std::string& head : {many_fields, long_field}) {
    RawConnection raw(server->http());
    raw.send_text(head + "\r\n");
    const std::string reply = raw.read_all(std::chrono::seconds(5));
    EXPECT_EQ(status_of(reply), "HTTP/1.1 431 Request Header Fields Too Large") << reply.substr(0, 300);
  }
}

TEST(HttpAbuse, ContinueAndPipelinedRequestsAreServedInOrder) {
  auto server = std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0"});
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  const std::string body = R"({"prompt": "Once upon", "max_tokens": 3, "temperature": 0})";
  RawConnection raw(server->http());
  raw.send_text(
      post_head("/v1/completions", "Expect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"));
  EXPECT_EQ(status_of(raw.read_until("\r\n\r\n")), "HTTP/1.1 100 Continue");
  raw.send_text(body);
  EXPECT_EQ(status_of(raw.read_until("\"total_tokens\"")), "HTTP/1.1 200 OK");
  // Three requests in one write: three answers, in order, on the one connection.
  RawConnection pipelined(server->http());
  pipelined.send_text("GET /ready HTTP/1.1\r\nHost: x\r\n\r\n" +
                      post_head("/v1/completions", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body +
                      "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string replies = pipelined.read_all(std::chrono::seconds(10));
  const size_t ready = replies.find("\"ready\""), completion = replies.find("\"total_tokens\""),
               models = replies.find("\"object\":\"list\"");
  ASSERT_NE(models, std::string::npos) << replies;
  EXPECT_LT(ready, completion);
  EXPECT_LT(completion, models);
}

TEST(HttpAbuse, HugePromptsAreRefusedByTheirBytesBeforeTokenizingAndAnHonestRequestGoesOn) {
  auto server =
      std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0", "--max-body-bytes", "5000000"});
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  const std::string huge = R"({"max_tokens": 4, "prompt": ")" + std::string(3900000, 'x') + "\"}";
  std::vector<std::future<httplib::Result>> refused;
  for (int i = 0; i < 4; ++i)
    refused.push_back(std::async(std::launch::async, [&] {
      return httplib::Client(server->http()).Post("/v1/completions", huge, "application/json");
    }));
  auto honest =
      httplib::Client(server->http())
          .Post("/v1/completions", R"({"prompt": "Once upon", "max_tokens": 3, "temperature": 0})", "application/json");
  ASSERT_TRUE(honest);
  EXPECT_EQ(honest->status, 200) << honest->body;
  for (auto& f : refused) {
    auto res = f.get();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    // "bytes, so at least N tokens": the count from the bytes alone, no tokenizer run.
    EXPECT_NE(res->body.find("3900000 bytes, so at least"), std::string::npos) << res->body;
    EXPECT_NE(res->body.find("does not fit in the context of 4096 positions"), std::string::npos) << res->body;
  }
}

// A streaming client that stops reading: once the socket's buffers are full, the server queues
// at most --http-stream-backlog-bytes for it, then drops it and cancels its request. (The send
// buffer is fixed small: the kernel's autotuning would take megabytes first.)
TEST(HttpAbuse, AStreamingClientThatStopsReadingIsDroppedAndItsRequestCancelled) {
  auto server =
      std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0", "--http-stream-backlog-bytes", "4096",
                                                        "--http-send-buffer-bytes", "4096", "--http-timeout-s", "120"});
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  RawConnection reader(server->http(), 2048);
  const std::string body = R"({"prompt": "Once upon a time", "max_tokens": 400, "n": 4, "stream": true})";
  ASSERT_TRUE(
      reader.send_text(post_head("/v1/completions", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body));
  auto dropped = [&] { return server->log().find("event=http_dropped") != std::string::npos; };
  for (int i = 0; i < 300 && !dropped(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(dropped()) << server->log();
  EXPECT_NE(server->log().find("reason=\"the client reads too slowly\""), std::string::npos) << server->log();
  // Its request ends cancelled, long before its 4 x 400 tokens.
  const nlohmann::json health = test::health_when(server->http(), [](auto& h) { return h["live_requests"] == 0; });
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_NE(server->log().find("outcome=cancelled"), std::string::npos) << server->log();
  // And the server serves the next client.
  auto next =
      httplib::Client(server->http())
          .Post("/v1/completions", R"({"prompt": "Once upon", "max_tokens": 3, "stream": true})", "application/json");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_NE(next->body.find("data: [DONE]"), std::string::npos) << next->body;
}

TEST(HttpAbuse, ARequestIdOverTwoHundredFiftySixBytesIsRefusedNotEchoed) {
  auto server = std::make_unique<Server>(std::vector<std::string>{});
  ASSERT_FALSE(server->endpoint().empty()) << "serve did not start";
  zmq::context_t context;
  test::Client client(context, server->endpoint());
  client.send(test::submit(std::string(100000, 'r'), "Once upon", 3));
  const wire::ServerMessage refused = client.receive();
  ASSERT_TRUE(refused.has_error());
  EXPECT_EQ(refused.error().code(), wire::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error().request_id(), "");
  EXPECT_NE(refused.error().message().find("at most 256"), std::string::npos) << refused.error().message();
  client.send(test::submit(std::string(256, 'r'), "Once upon", 3));
  const auto answer = client.until_end();
  ASSERT_TRUE(answer.back().has_final()) << answer.back().DebugString();
  EXPECT_EQ(answer.back().final().request_id(), std::string(256, 'r'));
}

TEST(ZmqAbuse, AClientThatDisconnectsWithoutHeartbeatsHasItsRequestCancelled) {
  auto server = std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0"},
                                         test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  {
    zmq::context_t context;
    test::Client client(context, server->endpoint());
    wire::ClientMessage m = test::submit("long", "def fibonacci(n):", 4000, true);
    m.mutable_submit()->set_heartbeat_ms(0);  // it promises no heartbeats: only its connection tells
    client.send(m);
    ASSERT_TRUE(client.receive().has_chunk());
    auto running = test::health_when(server->http(), [](const nlohmann::json& h) { return h["live_requests"] == 1; });
    ASSERT_EQ(running["live_requests"], 1) << running.dump();
  }  // the client process's socket closes
  auto health = test::health_when(server->http(), [](const nlohmann::json& h) { return h["live_requests"] == 0; });
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
}

TEST(ZmqAbuse, ManyConnectionsFromOneAddressShareOneClientsLimit) {
  auto server = std::make_unique<Server>(
      std::vector<std::string>{"--http", "127.0.0.1:0", "--max-client-requests", "4", "--queue-limit", "64"},
      test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server->endpoint().empty()) << "serve did not start";
  zmq::context_t context;
  std::vector<std::unique_ptr<test::Client>> connections;
  for (int i = 0; i < 12; ++i) {
    connections.push_back(std::make_unique<test::Client>(context, server->endpoint()));
    connections.back()->send(test::submit(std::to_string(i), "def fibonacci(n):", 4000));
  }
  int overloaded = 0;
  for (auto& c : connections) {
    const wire::ServerMessage m = c->receive(std::chrono::milliseconds(2000));
    if (m.has_error() && m.error().code() == wire::OVERLOADED) ++overloaded;
  }
  // Twelve connections of one process are one client: four run or wait, eight are refused.
  EXPECT_EQ(overloaded, 8);
}

}  // namespace
}  // namespace tandem
