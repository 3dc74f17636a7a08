// CURVE on the client port, with the command-line client: `tandem keys generate`
// makes the key files; a server holding its key pair answers only the clients whose
// public keys it lists, encrypted; a stranger's key or no key gets nothing.
#include <sys/stat.h>

#include "process_helpers.h"

namespace tandem {
namespace {

using test::CommandRun;
CommandRun run(const std::string& command) { return test::run_command(command); }

TEST(Curve, OnlyAuthorizedClientsAreAnswered) {
  const std::string dir = test::temp_path("curve");
  std::filesystem::create_directories(dir);
  for (const char* name : {"server", "client", "stranger"})
    ASSERT_EQ(run(std::string(TANDEM_BINARY) + " keys generate --out " + dir + "/" + name).status, 0);
  struct stat secret {};
  ASSERT_EQ(stat((dir + "/client.key").c_str(), &secret), 0);
  EXPECT_EQ(secret.st_mode & 077, 0u) << "a secret key file readable by others";
  std::ifstream pub(dir + "/client.pub");
  std::string line, key;
  while (std::getline(pub, line))
    if (line.rfind("public = ", 0) == 0) key = line.substr(9);
  ASSERT_EQ(key.size(), 40u);
  // Z85 keys may hold '#': one such key (not a client's) proves it is not read as a comment.
  std::ofstream(dir + "/authorized") << "# who may connect\n"
                                     << key << " the-client\n"
                                     << "  s:?i9y#vI8X>^vHk=wi<n]l:nyLU<o&v8u^kKr2) other # with a comment\n";

  test::Server server({"--curve-secret-key", dir + "/server.key", "--curve-authorized-keys", dir + "/authorized"});
  ASSERT_FALSE(server.endpoint().empty()) << "serve did not start";
  const std::string client = std::string(TANDEM_BINARY) + " generate --json --server " + server.endpoint() +
                             " --prompt 'Once upon a time' --max-tokens 20 --timeout-ms 2000";
  const CommandRun allowed =
      run(client + " --curve-server-key " + dir + "/server.pub --curve-secret-key " + dir + "/client.key");
  ASSERT_EQ(allowed.status, 0) << allowed.out;
  EXPECT_EQ(nlohmann::json::parse(allowed.out)["ids"].get<std::vector<int32_t>>(),
            test::local_greedy("Once upon a time", 20));
  // The request's log line names the client by its key's name in the authorized file.
  EXPECT_NE(server.log().find("client=zmq:the-client:"), std::string::npos) << server.log();
  for (const std::string& keys :
       {" --curve-server-key " + dir + "/server.pub --curve-secret-key " + dir + "/stranger.key", std::string()}) {
    const CommandRun refused = run(client + keys);
    EXPECT_NE(refused.status, 0) << keys;
    EXPECT_NE(refused.out.find("has been silent"), std::string::npos) << refused.out;
  }
  // Keys that do not go together, or files that are not keys: a clear error at start.
  const CommandRun half = run(std::string(TANDEM_BINARY) + " serve --curve-secret-key " + dir + "/server.key");
  EXPECT_EQ(half.status, 2);
  EXPECT_NE(half.out.find("--curve-secret-key and --curve-authorized-keys go together"), std::string::npos) << half.out;
  const CommandRun not_a_key = run(std::string(TANDEM_BINARY) + " serve --curve-secret-key " + dir +
                                   "/authorized --curve-authorized-keys " + dir + "/authorized");
  EXPECT_EQ(not_a_key.status, 2);
  EXPECT_NE(not_a_key.out.find("no valid 'public = <40 Z85 characters>' line"), std::string::npos) << not_a_key.out;
}

}  // namespace
}  // namespace tandem
