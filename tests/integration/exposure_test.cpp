// A listener other machines can reach is refused at start (a usage error, exit 2)
// without keys or --insecure; with keys (or --insecure) the same bind serves.
#include "process_helpers.h"

namespace tandem {
namespace {

using test::run_command;

std::string tandem(const std::string& args) {
  return std::string(TANDEM_BINARY) + " " + args + " --model " + test::stories_model() + " --draft-model none";
}

TEST(Exposure, ListenersOffLoopbackNeedKeysOrInsecure) {
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"serve --listen tcp://0.0.0.0:0 --http ''",
       "refusing to listen for ZeroMQ clients on tcp://0.0.0.0:0, which other machines can reach, without "
       "--curve-secret-key"},
      {"serve --listen tcp://127.0.0.1:0 --http 0.0.0.0:0", "refusing to listen for HTTP clients on 0.0.0.0:0"},
      {"serve --listen tcp://127.0.0.1:0 --http '' --control 0.0.0.0:0 --api-keys abcdefghijklmnopqrstuvwxyz",
       "refusing to listen for joining nodes (the control plane) on 0.0.0.0:0, which other machines can reach, without "
       "--cluster-ca, --cluster-cert and --cluster-key"},
      {"node --role scheduler --listen tcp://0.0.0.0:0 --http 127.0.0.1:0 --control 127.0.0.1:0",
       "refusing to listen for ZeroMQ clients"},
      {"node --role drafter --listen tcp://0.0.0.0:0 --scheduler ''",
       "refusing to listen for verifiers (drafter data)"},
      {"node --role shard --listen tcp://0.0.0.0:0 --scheduler ''", "refusing to listen for verifiers (KV shard data)"},
  };
  for (const auto& [args, message] : refused) {
    const test::CommandRun run = run_command("timeout 20 " + tandem(args));
    EXPECT_EQ(run.status, 2) << args << "\n" << run.out;
    EXPECT_NE(run.out.find(message), std::string::npos) << args << "\n" << run.out;
  }
}

TEST(Exposure, KeysOrInsecureLetTheSameBindServe) {
  // HTTP on every address, protected by an API key.
  test::Server keyed({"--http", "0.0.0.0:0", "--api-keys", "abcdefghijklmnopqrstuvwxyz"});
  ASSERT_FALSE(keyed.http().empty()) << "serve with an API key did not start";
  httplib::Client http("127.0.0.1", std::stoi(keyed.http().substr(keyed.http().rfind(':') + 1)));
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // ZeroMQ on every address, accepted with --insecure, answers over loopback.
  test::Server open({"--listen", "tcp://0.0.0.0:0", "--insecure"});
  ASSERT_FALSE(open.endpoint().empty()) << "serve --insecure did not start";
  const std::string port = open.endpoint().substr(open.endpoint().rfind(':') + 1);
  zmq::context_t context(1);
  test::Client client(context, "tcp://127.0.0.1:" + port);
  client.send(test::submit("open", "Once upon a time", 5));
  const wire::ServerMessage m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()),
            test::local_greedy("Once upon a time", 5));
}

}  // namespace
}  // namespace tandem
