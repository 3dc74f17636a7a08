// The control plane with the cluster's certificates (tandem keys ca / cert): only nodes
// holding a certificate of the cluster's CA join; anyone else is dropped in the TLS
// handshake, before CAF reads (or allocates for) a message of theirs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "process_helpers.h"

namespace tandem {
namespace {

using test::run_command;
using test::Server;

// A CA and a node certificate of it, made by `tandem keys`; the flags that hand them to a node.
std::vector<std::string> make_credentials(const std::string& name) {
  const std::string base = test::make_certificate(name, name);
  return {"--cluster-ca", base + "-ca.crt", "--cluster-cert", base + ".crt", "--cluster-key", base + ".key"};
}

std::unique_ptr<Server> start_verifier(const std::string& name, const std::string& control,
                                       const std::vector<std::string>& credentials) {
  return std::make_unique<Server>(
      std::vector<std::string>{"node", "--role", "verifier", "--name", name, "--model", test::stories_model(),
                               "--scheduler", control, "--threads", "1", "--heartbeat-ms", "200"},
      credentials);
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ControlTls, OnlyNodesOfTheClustersCaJoin) {
  const auto cluster = make_credentials("cluster"), stranger = make_credentials("stranger");
  // With certificates, a control port other machines can reach needs no --insecure.
  std::vector<std::string> extra = cluster;
  extra.insert(extra.end(), {"--control", "0.0.0.0:0"});
  auto scheduler = test::start_scheduler(test::stories_model(), extra);
  ASSERT_FALSE(scheduler->control().empty()) << "the scheduler did not start";
  const std::string control = "127.0.0.1:" + scheduler->control().substr(scheduler->control().rfind(':') + 1);
  auto member = start_verifier("member", control, cluster);
  auto outsider = start_verifier("outsider", control, stranger);  // a certificate of another CA
  auto plain = start_verifier("plain", control, {});              // no TLS at all
  nlohmann::json health = test::health_when(scheduler->http(), [](auto& h) { return h["verifiers"] == 1; });
  ASSERT_EQ(health["verifiers"], 1) << health.dump();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the others keep trying; the member stays joined
  health = test::health_when(scheduler->http(), [](auto&) { return true; });
  EXPECT_EQ(health["verifiers"], 1) << health.dump();
  const std::string log = scheduler->log();
  EXPECT_EQ(count(log, "event=node_joined"), 1) << log;  // joined once, never lost and back
  EXPECT_EQ(count(log, "name=outsider") + count(log, "name=plain"), 0) << log;
  EXPECT_NE(outsider->log().find("cannot reach"), std::string::npos) << outsider->log();
  EXPECT_NE(plain->log().find("cannot reach"), std::string::npos) << plain->log();

  zmq::context_t context(1);
  test::Client client(context, scheduler->endpoint());
  client.send(test::submit("tls", "Once upon a time", 8));
  const wire::ServerMessage m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()),
            test::local_greedy("Once upon a time", 8));
}

// With the control plane on TLS, drafter and shard data ports other machines can reach need
// no --insecure: their CURVE keys travel over it and they admit only the verifiers'.
TEST(ControlTls, WithCertificatesDataPortsOffLoopbackNeedNoInsecure) {
  const auto cluster = make_credentials("cluster");
  auto scheduler = test::start_scheduler(test::stories_model(), cluster);
  ASSERT_FALSE(scheduler->control().empty()) << "the scheduler did not start";
  auto node = [&](const std::string& role) {
    std::vector<std::string> args = {"node",
                                     "--role",
                                     role,
                                     "--name",
                                     role,
                                     "--draft-model",
                                     test::stories_model(),
                                     "--listen",
                                     "tcp://0.0.0.0:0",
                                     "--scheduler",
                                     scheduler->control(),
                                     "--threads",
                                     "1",
                                     "--heartbeat-ms",
                                     "200"};
    return std::make_unique<Server>(args, cluster);
  };
  auto drafter = node("drafter"), shard = node("shard");
  auto verifier = start_verifier("member", scheduler->control(), cluster);
  const nlohmann::json health = test::health_when(
      scheduler->http(), [](auto& h) { return h["verifiers"] == 1 && h["drafters"] == 1 && h["shards"] == 1; });
  EXPECT_EQ(health["drafters"], 1) << health.dump() << drafter->log();
  EXPECT_EQ(health["shards"], 1) << health.dump() << shard->log();
}

// A connection that sends CAF's 32-byte message header claiming a 4 GiB payload, then
// some bytes. On a plain control plane each such connection makes CAF allocate the claim
// (three took 2.9 GB when tried); with TLS they are not a handshake and are dropped.
int send_claim(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return fd;
  unsigned char header[32] = {1};                              // operation: client handshake
  header[4] = header[5] = header[6] = 0xff, header[7] = 0xf0;  // payload length, big-endian
  (void)!write(fd, header, sizeof header);
  const std::string filler(65536, 'x');
  (void)!write(fd, filler.data(), filler.size());
  return fd;
}

// Three connections to the scheduler's control port that claim 4 GiB each, left open for two
// seconds; the growth of its peak memory must stay under 32 MB. Returns the sockets.
std::vector<int> claim_three_times(const Server& scheduler) {
  const uint16_t port = uint16_t(std::stoi(scheduler.control().substr(scheduler.control().rfind(':') + 1)));
  const long before = test::peak_rss_kb(scheduler.pid());
  std::vector<int> sockets;
  for (int i = 0; i < 3; ++i) sockets.push_back(send_claim(port));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_LT(test::peak_rss_kb(scheduler.pid()) - before, 32 * 1024) << "the scheduler's peak memory grew";
  return sockets;
}

TEST(ControlTls, ClaimedPayloadBeforeTheHandshakeAllocatesNothing) {
  auto scheduler = test::start_scheduler(test::stories_model(), make_credentials("cluster"));
  ASSERT_FALSE(scheduler->control().empty()) << "the scheduler did not start";
  for (int fd : claim_three_times(*scheduler)) close(fd);
  const nlohmann::json health = test::health_when(scheduler->http(), [](auto&) { return true; });
  EXPECT_EQ(health["status"], "ok") << health.dump();
}

// The plain control plane: CAF listens only on a private Unix socket, behind a front that
// reads every BASP header; a header claiming 4 GiB closes its connection before CAF sees it.
TEST(ControlPlain, ClaimedPayloadIsRefusedByTheFrontAndNodesStillJoin) {
  auto scheduler = test::start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty()) << "the scheduler did not start";
  for (int fd : claim_three_times(*scheduler)) {
    timeval patience{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    // CAF's greeting may come first; then the end of the stream, or a reset (bytes were left unread).
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof buffer)) > 0) {}
    EXPECT_TRUE(n == 0 || errno == ECONNRESET) << "the front did not close a connection claiming 4 GiB";
    close(fd);
  }
  EXPECT_EQ(count(scheduler->log(), "event=control_refused"), 3) << scheduler->log();
  auto member = start_verifier("member", scheduler->control(), {});
  const nlohmann::json health = test::health_when(scheduler->http(), [](auto& h) { return h["verifiers"] == 1; });
  EXPECT_EQ(health["verifiers"], 1) << health.dump();
}

TEST(ControlTls, CertificateFilesThatDoNotFitAreRefusedAtStart) {
  const auto cluster = make_credentials("cluster"), stranger = make_credentials("stranger");
  auto tandem = [](const std::vector<std::string>& flags) {
    std::string command = "timeout 20 " + std::string(TANDEM_BINARY) +
                          " node --role verifier --scheduler 127.0.0.1:1 --model " + test::stories_model();
    for (const auto& f : flags) command += " " + f;
    return run_command(command);
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{cluster[0], cluster[1], cluster[2], stranger[3], cluster[4], stranger[5]}, "does not verify against"},
      {{cluster[0], cluster[1], cluster[2], cluster[3], cluster[4], stranger[5]}, "is not the key of"},
      {{cluster[0], cluster[1]}, "go together"},
      {{cluster[0], cluster[5], cluster[2], cluster[3], cluster[4], cluster[5]}, "not a PEM certificate"},
  };
  for (const auto& [flags, message] : cases) {
    const test::CommandRun run = tandem(flags);
    EXPECT_EQ(run.status, 2) << run.out;
    EXPECT_NE(run.out.find(message), std::string::npos) << run.out;
  }
}

}  // namespace
}  // namespace tandem
