// The HTTP endpoint under abuse, as a stranger on the network would try it: a huge
// body, idle and slow connections, numbers out of range, bytes that are not UTF-8,
// fields we do not support, and a non-streaming client that leaves. Each gets a clear
// answer (or none) and costs the server nothing it keeps.
#include "process_helpers.h"
#include "raw_connection.h"

namespace tandem {
namespace {

using test::RawConnection;
using test::Server;

std::unique_ptr<Server> start_serve(const std::string& model = test::stories_model()) {
  return std::make_unique<Server>(std::vector<std::string>{"--http", "127.0.0.1:0"}, model);
}

std::unique_ptr<Server> start_serve_with(std::vector<std::string> flags) {
  flags.insert(flags.end(), {"--http", "127.0.0.1:0"});
  return std::make_unique<Server>(flags);
}

TEST(Http, AThirtyMegabyteBodyGets413WithoutTheMemory) {
  auto server = start_serve();
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  const long before = test::peak_rss_kb(server->pid());
  RawConnection c(server->http());
  ASSERT_TRUE(c.connected());
  // 30 MB of body: the server reads past it without keeping it, then refuses.
  const std::string body = "{\"prompt\": \"" + std::string((30 << 20) - 14, 'a') + "\"}";
  c.send_text("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body);
  const std::string reply = c.read_all(std::chrono::seconds(2));
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_NE(reply.find("the body is larger than 4194304 bytes"), std::string::npos) << reply;
  EXPECT_LT(test::peak_rss_kb(server->pid()) - before, 8 * 1024) << "the server's peak memory grew";
  httplib::Client http(server->http());
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(Http, IdleAndSlowConnectionsLeaveHealthAnswering) {
  auto server = start_serve();
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  std::vector<std::unique_ptr<RawConnection>> strangers;
  for (int i = 0; i < 32; ++i) {
    strangers.push_back(std::make_unique<RawConnection>(server->http()));  // connects, says nothing
    strangers.push_back(std::make_unique<RawConnection>(server->http()));
    strangers.back()->send_text("GET /health HTTP/1.1\r\nHost: x\r\n");  // headers never finished
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  httplib::Client http(server->http());
  http.set_read_timeout(1, 0);
  http.set_connection_timeout(1, 0);
  const auto asked = std::chrono::steady_clock::now();
  auto health = http.Get("/health");
  ASSERT_TRUE(health) << "no /health answer with 64 idle or slow connections open";
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(1));
}

TEST(Http, OutOfRangeNumbersBadBytesAndUnsupportedFieldsGet400) {
  auto server = start_serve();
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  httplib::Client http(server->http());
  auto post = [&](const std::string& body) { return http.Post("/v1/completions", body, "application/json"); };
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"prompt": "hi", "max_tokens": 4294967298})", "'max_tokens' must be between 0 and 2147483647"},
      {R"({"prompt": "hi", "max_tokens": -1})", "'max_tokens' must be between 0 and 2147483647"},
      {R"({"prompt": "hi", "temperature": 1e30})", "'temperature' must be a number between"},
      {R"({"prompt": "hi", "temperature": 1e999})", "a number in the body is out of range"},
      {R"({"prompt": "hi", "top_p": "high"})", "'top_p' must be a number between"},
      {R"({"prompt": "hi", "n": 129})", "'n' must be between 1 and 128"},
      {R"({"prompt": "hi", "n": 9})", "n must be between 1 and 8, this server's batch size"},
      {R"({"prompt": "hi", "first_finish": 1})", "'first_finish' must be true or false"},
      {R"({"prompt": "hi", "stream": "yes"})", "'stream' must be true or false"},
      {"{\"prompt\": \"caf\xc3\x28\"}", "the body is not valid JSON in UTF-8 (error at byte"},
      {"[1, 2]", "the body must be a JSON object"},
      {R"({"prompt": "hi", "x": )" + std::string(100000, '[') + std::string(100000, ']') + "}",
       "the body nests arrays and objects more than 64 deep"},
  };
  for (const auto& [body, message] : refused) {
    auto res = post(body);
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, 400) << body;
    EXPECT_NE(res->body.find(message), std::string::npos) << body << " -> " << res->body;
    EXPECT_EQ(res->get_header_value("EXCEPTION_WHAT"), "") << body;
  }
  // What OpenAI clients send by default is accepted.
  auto res = post(R"({"prompt": "Once upon", "max_tokens": 4, "n": 1, "stop": null, "temperature": 0})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

// stories260K is a base model: no chat template. Chat gets a 400 that says so, completions
// still serve; with --chat-template the same chat request renders through the file given.
TEST(Http, ChatNeedsATemplateFromTheModelOrTheFlagAndItsRefusalsAre400) {
  const std::string chat =
      R"({"messages": [{"role": "user", "content": "Once upon"}], "max_tokens": 6, "temperature": 0})";
  {
    auto server = start_serve();
    ASSERT_FALSE(server->http().empty()) << "serve did not start";
    httplib::Client http(server->http());
    auto res = http.Post("/v1/chat/completions", chat, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_NE(res->body.find("this model has no chat template (a base model?)"), std::string::npos) << res->body;
    res = http.Post("/v1/completions", R"({"prompt": "Once upon", "max_tokens": 6, "temperature": 0})",
                    "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  const std::string file = test::temp_path("template");
  std::ofstream(file) << "{% for m in messages %}{% if m.role != 'user' %}{{ raise_exception('only users here') }}"
                         "{% endif %}{{ m.content }}{% if tools %} tools:{{ tools | length }}{% endif %}{% endfor %}";
  auto server = start_serve_with({"--chat-template", file});
  ASSERT_FALSE(server->http().empty()) << "serve did not start: " << server->log();
  httplib::Client http(server->http());
  auto completion =
      http.Post("/v1/completions", R"({"prompt": "Once upon", "max_tokens": 6, "temperature": 0})", "application/json");
  auto answer = http.Post("/v1/chat/completions", chat, "application/json");
  ASSERT_TRUE(completion && answer);
  ASSERT_EQ(answer->status, 200) << answer->body;
  // The template rendered the prompt "Once upon": the same greedy text as the completion's.
  EXPECT_EQ(nlohmann::json::parse(answer->body)["choices"][0]["message"]["content"],
            nlohmann::json::parse(completion->body)["choices"][0]["text"]);
  EXPECT_EQ(nlohmann::json::parse(answer->body)["usage"]["prompt_tokens"],
            nlohmann::json::parse(completion->body)["usage"]["prompt_tokens"]);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"messages": [{"role": "system", "content": "x"}]})",
       "the model's chat template refused the conversation: only users here"},
      {R"({"messages": []})", "'messages' must be a non-empty array"},
      {R"({"messages": [{"content": "x"}]})", "message 0: each message needs a string 'role'"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
       "message 0: only text parts"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "message 0: 'content' must be a string, null or an array"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {"a": 1}})", "'tools' must be an array"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": [1]})",
       "'chat_template_kwargs' must be an object"},
  };
  for (const auto& [body, message] : refused) {
    auto res = http.Post("/v1/chat/completions", body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, 400) << body;
    EXPECT_NE(res->body.find(message), std::string::npos) << body << " -> " << res->body;
  }
  // Text parts, tools and template variables reach the template.
  auto parts = http.Post("/v1/chat/completions",
                         R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "Once"},
                             {"type": "text", "text": "upon"}]}], "tools": [{"type": "function"}],
                             "chat_template_kwargs": {"enable_thinking": false}, "max_tokens": 2})",
                         "application/json");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->status, 200) << parts->body;
}

TEST(Http, ANonStreamingClientThatLeavesHasItsRequestCancelledWithinTwoSeconds) {
  auto server = start_serve(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server->http().empty()) << "serve did not start";
  {
    RawConnection c(server->http());
    const std::string body = R"({"prompt": "def fibonacci(n):", "max_tokens": 4000})";
    c.send_text("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
    auto running = test::health_when(server->http(), [](const nlohmann::json& h) { return h["live_requests"] == 1; });
    ASSERT_EQ(running["live_requests"], 1) << running.dump();
  }  // the client closes its connection without waiting for the answer
  const auto left = std::chrono::steady_clock::now();
  auto health = test::health_when(server->http(), [](const nlohmann::json& h) { return h["live_requests"] == 0; });
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_LT(std::chrono::steady_clock::now() - left, std::chrono::seconds(2));
}

TEST(Http, WithApiKeysOnlyABearerOfOneIsServedAndProbesStayOpen) {
  const std::string file = test::temp_path("api-keys");
  std::ofstream(file) << "# who may use the API\nsk-alice-0123456789abcdef alice\n";
  Server server({"--http", "127.0.0.1:0", "--api-keys-file", file, "--api-keys", "sk-bob-0123456789abcdef"});
  ASSERT_FALSE(server.http().empty()) << "serve did not start";
  httplib::Client http(server.http());
  const std::string body = R"({"prompt": "Once upon", "max_tokens": 4, "temperature": 0})";
  auto ask = [&](const std::string& authorization) {
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    return http.Post("/v1/completions", headers, body, "application/json");
  };
  for (const std::string refused :
       {"", "Bearer sk-mallory-0123456789ab", "Bearer sk-alice-0123456789abcdeF", "Basic sk-alice-0123456789abcdef"}) {
    auto res = ask(refused);
    ASSERT_TRUE(res) << refused;
    EXPECT_EQ(res->status, 401) << refused;
    EXPECT_NE(res->body.find("a valid API key is required"), std::string::npos) << res->body;
  }
  for (const std::string key : {"sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef"}) {
    auto res = ask("Bearer " + key);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200) << key << ": " << res->body;
  }
  auto models = http.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 401);
  for (const char* open : {"/health", "/ready", "/metrics"}) {
    auto res = http.Get(open);
    ASSERT_TRUE(res) << open;
    EXPECT_EQ(res->status, 200) << open;
  }
}

TEST(Http, WithACertificateItServesHttpsThatClientsCanVerify) {
  const std::string ours = test::make_certificate("https", "127.0.0.1"),
                    theirs = test::make_certificate("https-other", "127.0.0.1");
  Server server({"--http", "127.0.0.1:0", "--http-tls-cert", ours + ".crt", "--http-tls-key", ours + ".key"});
  ASSERT_EQ(server.http().rfind("https://127.0.0.1:", 0), 0u) << server.http();
  const int port = std::stoi(server.http().substr(server.http().rfind(':') + 1));
  const std::string body = R"({"prompt": "Once upon", "max_tokens": 4, "temperature": 0})";

  httplib::SSLClient trusting("127.0.0.1", port);
  trusting.set_ca_cert_path((ours + "-ca.crt").c_str());
  trusting.enable_server_certificate_verification(true);
  auto res = trusting.Post("/v1/completions", body, "application/json");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_FALSE(nlohmann::json::parse(res->body)["choices"][0]["text"].get<std::string>().empty()) << res->body;

  httplib::SSLClient other_ca("127.0.0.1", port);  // trusts another CA: the handshake fails
  other_ca.set_ca_cert_path((theirs + "-ca.crt").c_str());
  other_ca.enable_server_certificate_verification(true);
  auto refused = other_ca.Get("/health");
  EXPECT_FALSE(refused);
  EXPECT_EQ(other_ca.get_openssl_verify_result(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

  httplib::Client plain("http://127.0.0.1:" + std::to_string(port));  // plain HTTP to the TLS port: no answer
  plain.set_read_timeout(3, 0);
  EXPECT_FALSE(plain.Get("/health"));
  ASSERT_TRUE(trusting.Get("/health")) << "the server stopped serving after a plain-HTTP client";

  // A key that is not the certificate's is refused at start, before anything listens.
  const test::CommandRun mismatched = test::run_command(
      std::string(TANDEM_BINARY) + " serve --model " + test::stories_model() +
      " --draft-model none --http 127.0.0.1:0 --http-tls-cert " + ours + ".crt --http-tls-key " + theirs + ".key");
  EXPECT_EQ(mismatched.status, 2) << mismatched.out;
  EXPECT_NE(mismatched.out.find("not a PEM certificate and its private key"), std::string::npos) << mismatched.out;
}

}  // namespace
}  // namespace tandem
