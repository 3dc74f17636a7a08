// A node's name belongs to its live membership (issue 27): a second process joining under
// a live node's name is refused and takes none of its work, whatever the control plane; a
// real restart (the old process killed) joins once the scheduler has seen the old one go,
// and is paired and re-keyed like a new node (with TLS, the drafter's new CURVE key reaches
// its verifier, so chain requests draft again).
#include "process_helpers.h"

namespace tandem {
namespace {

using test::Server;

std::unique_ptr<Server> node(const std::string& role, const std::string& name, const Server& scheduler,
                             const std::vector<std::string>& extra) {
  std::vector<std::string> args = {
      "node", "--role",         role, "--name", name, "--scheduler", scheduler.control(), "--threads",
      "1",    "--heartbeat-ms", "200"};
  if (role == "verifier") args.insert(args.end(), {"--model", test::stories_model(), "--mode", "chain"});
  if (role == "drafter")
    args.insert(args.end(), {"--draft-model", test::stories_model(), "--listen", "tcp://127.0.0.1:0"});
  return std::make_unique<Server>(args, extra);
}

bool members_are(const Server& scheduler, int verifiers, int drafters) {
  auto h = test::health_when(scheduler.http(), [&](const nlohmann::json& h) {
    return h["verifiers"] == verifiers && h["drafters"] == drafters;
  });
  return h["verifiers"] == verifiers && h["drafters"] == drafters;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A chain request's final message.
wire::ServerMessage ask(const Server& scheduler, const std::string& id) {
  zmq::context_t context(1);
  test::Client client(context, scheduler.endpoint());
  client.send(test::submit(id, "Once upon a time", 24));
  return client.receive();
}

TEST(NodeIdentity, ASecondNodeUnderALiveNameIsRefusedAndTakesNothing) {
  auto scheduler = test::start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty());
  auto verifier = node("verifier", "v1", *scheduler, {});
  ASSERT_TRUE(members_are(*scheduler, 1, 0));
  auto impostor = node("verifier", "v1", *scheduler, {});  // no credential needed on the plain control plane
  auto drafter_impostor = node("drafter", "v1", *scheduler, {});
  // Both impostors are refused on their own schedule (the drafter loads a model first).
  for (int i = 0; i < 50 && (count(impostor->log(), "event=join_waits") == 0 ||
                             count(drafter_impostor->log(), "event=join_waits") == 0);
       ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(impostor->log().find("name in use"), std::string::npos) << impostor->log();
  EXPECT_NE(drafter_impostor->log().find("name in use"), std::string::npos) << drafter_impostor->log();
  const auto expected = test::local_greedy("Once upon a time", 24);
  for (const char* id : {"r0", "r1", "r2", "r3"}) {
    const wire::ServerMessage m = ask(*scheduler, id);
    ASSERT_TRUE(m.has_final()) << m.DebugString();
    EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), expected);
  }
  EXPECT_TRUE(members_are(*scheduler, 1, 0));
  EXPECT_EQ(count(scheduler->log(), "event=node_joined"), 1) << scheduler->log();
  EXPECT_GE(count(scheduler->log(), "event=node_refused"), 2) << scheduler->log();
}

TEST(NodeIdentity, ADrafterKilledAndRestartedUnderItsNameIsReKeyedAndPaired) {
  const std::string base = test::make_certificate("identity", "identity");
  const std::vector<std::string> tls = {"--cluster-ca", base + "-ca.crt", "--cluster-cert",
                                        base + ".crt",  "--cluster-key",  base + ".key"};
  auto scheduler = test::start_scheduler(test::stories_model(), tls);
  ASSERT_FALSE(scheduler->control().empty());
  auto verifier = node("verifier", "v1", *scheduler, tls);
  auto drafter = node("drafter", "d1", *scheduler, tls);
  ASSERT_TRUE(members_are(*scheduler, 1, 1));
  ASSERT_TRUE(test::links_to_drafter(verifier->http(), drafter->endpoint()));
  const auto expected = test::local_greedy("Once upon a time", 24);
  auto drafted_and_right = [&](const std::string& id) {
    const wire::ServerMessage m = ask(*scheduler, id);
    EXPECT_TRUE(m.has_final()) << m.DebugString();
    EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), expected) << id;
    return m.final().stats().accepted_tokens();
  };
  EXPECT_GT(drafted_and_right("before"), 0);
  drafter->stop(SIGKILL);
  drafter = node("drafter", "d1", *scheduler, tls);  // at once, under the same name, with a new CURVE key
  ASSERT_FALSE(drafter->endpoint().empty()) << "the restarted drafter did not start";
  for (int i = 0; i < 50 && count(scheduler->log(), "event=drafter_paired") < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(members_are(*scheduler, 1, 1));
  EXPECT_EQ(count(scheduler->log(), "event=drafter_paired"), 2) << scheduler->log();
  ASSERT_TRUE(test::links_to_drafter(verifier->http(), drafter->endpoint()));
  EXPECT_GT(drafted_and_right("after"), 0) << "the restarted drafter drafts nothing: its verifier lacks its key";
}

// With TLS and a certificate per node (`tandem keys cert --node ROLE/NAME`), each node joins
// under the role and name its own certificate binds; a node whose certificate does not bind
// its name says so and stops before loading a model. (How the scheduler refuses a proof of the
// wrong name, a replayed one or a foreign one: tests/unit/scheduler_join_test.cpp.)
TEST(NodeIdentity, WithTlsEachNodeJoinsAsItsOwnCertificateBinds) {
  const std::string base = test::make_certificate("bound", "bound");  // the CA, and */* for the scheduler
  const std::vector<std::string> tls = {"--cluster-ca", base + "-ca.crt", "--cluster-cert",
                                        base + ".crt",  "--cluster-key",  base + ".key"};
  const auto verifier_tls = test::node_credentials(base + "-ca", "bound-v", "verifier/v1");
  const auto drafter_tls = test::node_credentials(base + "-ca", "bound-d", "drafter/tandem-drafter-*");
  auto scheduler = test::start_scheduler(test::stories_model(), tls);
  ASSERT_FALSE(scheduler->control().empty());
  auto verifier = node("verifier", "v1", *scheduler, verifier_tls);
  auto drafter = node("drafter", "tandem-drafter-7f9c", *scheduler, drafter_tls);
  ASSERT_TRUE(members_are(*scheduler, 1, 1)) << scheduler->log();
  ASSERT_TRUE(test::links_to_drafter(verifier->http(), drafter->endpoint()));
  const wire::ServerMessage m = ask(*scheduler, "bound");
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()),
            test::local_greedy("Once upon a time", 24));
  EXPECT_GT(m.final().stats().accepted_tokens(), 0);

  const std::string tandem = TANDEM_BINARY;
  const test::CommandRun wrong =
      test::run_command(tandem + " node --role verifier --name v2 --model " + test::stories_model() + " --scheduler " +
                        scheduler->control() + " --cluster-ca " + drafter_tls[1] + " --cluster-cert " + drafter_tls[3] +
                        " --cluster-key " + drafter_tls[5]);
  EXPECT_EQ(wrong.status, 2) << wrong.out;
  EXPECT_NE(wrong.out.find("does not let this node join as verifier/v2 (it binds drafter/tandem-drafter-*)"),
            std::string::npos)
      << wrong.out;
  EXPECT_TRUE(members_are(*scheduler, 1, 1));
}

// tandem serve with the cluster's certificates: its own verifier ("local") needs no certificate
// binding it (it proves itself with a secret that never leaves the process), and a drafter
// node joins with the certificate that binds it.
TEST(NodeIdentity, ServeWithTlsServesItsOwnVerifierAndAdmitsABoundDrafter) {
  const std::string base = test::make_certificate("serve-bound", "serve-bound");
  const auto serve_tls = test::node_credentials(base + "-ca", "serve-bound-s", "shard/unused");
  const auto drafter_tls = test::node_credentials(base + "-ca", "serve-bound-d", "drafter/d1");
  std::vector<std::string> extra = serve_tls;
  extra.insert(extra.end(), {"--control", "127.0.0.1:0", "--http", "127.0.0.1:0", "--mode", "chain"});
  Server serve(extra);
  ASSERT_FALSE(serve.control().empty()) << "serve did not start";
  auto drafter = node("drafter", "d1", serve, drafter_tls);
  ASSERT_TRUE(members_are(serve, 1, 1)) << serve.log();
  ASSERT_TRUE(test::links_to_drafter(serve.http(), drafter->endpoint()));
  const wire::ServerMessage m = ask(serve, "served");
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()),
            test::local_greedy("Once upon a time", 24));
  EXPECT_GT(m.final().stats().accepted_tokens(), 0);
}

}  // namespace
}  // namespace tandem
