// Operator logs: each request and each refusal leaves one event line with the request
// id, client, mode, outcome, tokens and latency, as JSON with --log-format json; the
// prompt and the output never appear; --log-level hides what is below it.
#include "process_helpers.h"

namespace tandem {
namespace {

std::vector<nlohmann::json> events(const std::string& log, const std::string& event) {
  std::vector<nlohmann::json> found;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    if (j["event"] == event) found.push_back(j);
  }
  return found;
}

TEST(Logging, EveryRequestAndRefusalLeavesOneJsonLine) {
  const std::string prompt = "Once upon a time there was a secret";
  std::string log;
  {
    test::Server server({"--http", "127.0.0.1:0", "--log-format", "json"});
    ASSERT_FALSE(server.http().empty());
    zmq::context_t context(1);
    test::Client client(context, server.endpoint());
    client.send(test::submit("zmq-1", prompt, 12));
    ASSERT_TRUE(client.receive().has_final());
    wire::ClientMessage bad = test::submit("zmq-2", prompt, 5);
    bad.mutable_submit()->set_mode("warp");
    client.send(bad);
    ASSERT_TRUE(client.receive().has_error());
    client.send_bytes("garbage");
    ASSERT_TRUE(client.receive().has_error());
    client.send(test::submit("zmq-3", "not UTF-8: \xff\xfe", 5));  // protobuf refuses to parse it
    ASSERT_TRUE(client.receive().has_error());
    httplib::Client http(server.http());
    const nlohmann::json body = {{"prompt", prompt}, {"max_tokens", 7}, {"temperature", 0}};
    ASSERT_EQ(http.Post("/v1/completions", body.dump(), "application/json")->status, 200);
    ASSERT_EQ(http.Post("/v1/completions", R"({"prompt": 1})", "application/json")->status, 400);
    server.stop();
    log = server.log();
  }
  const std::vector<nlohmann::json> requests = events(log, "request");
  ASSERT_EQ(requests.size(), 3u) << log;  // two answered, one refused by the worker
  for (const nlohmann::json& r : requests) {
    for (const char* field : {"time", "level", "node", "request", "client", "outcome", "latency_ms"})
      EXPECT_TRUE(r.contains(field)) << field << " missing: " << r.dump();
  }
  EXPECT_EQ(requests[0]["request"], "zmq-1");
  EXPECT_EQ(requests[0]["outcome"], "finished");
  EXPECT_EQ(requests[0]["mode"], "auto");  // the server's default
  EXPECT_EQ(requests[0]["tokens"], 12);
  EXPECT_EQ(requests[0]["client"].get<std::string>().rfind("zmq:", 0), 0u);
  EXPECT_EQ(requests[1]["request"], "zmq-2");
  EXPECT_EQ(requests[1]["outcome"], "invalid_argument");
  EXPECT_EQ(requests[2]["client"], "http:127.0.0.1:1");
  EXPECT_EQ(requests[2]["tokens"], 7);
  EXPECT_EQ(events(log, "frame_refused").size(), 2u) << log;
  EXPECT_EQ(log.find("libprotobuf"), std::string::npos) << "protobuf wrote past our log:\n" << log;
  ASSERT_EQ(events(log, "http_refused").size(), 1u) << log;
  EXPECT_EQ(events(log, "http_refused")[0]["status"], 400);
  EXPECT_EQ(events(log, "node_joined").size(), 1u) << log;
  EXPECT_EQ(log.find("secret"), std::string::npos) << "the prompt reached the log:\n" << log;
}

TEST(Logging, TextLinesAndLevels) {
  std::string info_log, warn_log;
  for (const std::string level : {"info", "warn"}) {
    test::Server server({"--log-level", level});
    ASSERT_FALSE(server.endpoint().empty());
    zmq::context_t context(1);
    test::Client client(context, server.endpoint());
    client.send(test::submit("r1", "Once upon a time", 3));
    ASSERT_TRUE(client.receive().has_final());
    server.stop();
    (level == "info" ? info_log : warn_log) = server.log();
  }
  EXPECT_NE(info_log.find(" info node=serve event=request request=r1 client=zmq:"), std::string::npos) << info_log;
  EXPECT_NE(info_log.find(" outcome=finished mode=auto finish=length prompt_tokens="), std::string::npos) << info_log;
  EXPECT_EQ(warn_log.find("event=request"), std::string::npos) << warn_log;
  const test::CommandRun bad = test::run_command(std::string(TANDEM_BINARY) + " generate --log-format xml --prompt hi");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("log format must be text or json, got 'xml'"), std::string::npos) << bad.out;
}

}  // namespace
}  // namespace tandem
