// A cluster of real processes on 127.0.0.1: `tandem node` scheduler, verifiers and
// drafters joined over CAF, token trees over ZeroMQ. Output must equal `tandem
// generate --mode ar`; killed drafters and verifiers, vanished clients: each request
// still ends exactly once and nothing leaks.
#include <cstdio>

#include "process_helpers.h"
#include "security/curve.h"

namespace tandem {
namespace {

using test::Client;
using test::health_once_idle;
using test::health_when;
using test::links_to_drafter;
using test::Server;
using test::start_scheduler;
using test::submit;

std::unique_ptr<Server> start_verifier(const Server& scheduler, const std::string& name, const std::string& model,
                                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"node", "--role",      "verifier",          "--name",    name, "--model",
                                   model,  "--scheduler", scheduler.control(), "--threads", "1",  "--heartbeat-ms",
                                   "200"};
  return std::make_unique<Server>(args, extra);
}

std::unique_ptr<Server> start_drafter(const Server& scheduler, const std::string& name, const std::string& model,
                                      const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"node",
                                   "--role",
                                   "drafter",
                                   "--name",
                                   name,
                                   "--draft-model",
                                   model,
                                   "--scheduler",
                                   scheduler.control(),
                                   "--listen",
                                   "tcp://127.0.0.1:0",
                                   "--threads",
                                   "1",
                                   "--heartbeat-ms",
                                   "200"};
  return std::make_unique<Server>(args, extra);
}

// Waits until the scheduler counts this many live verifiers and drafters.
bool members_are(const Server& scheduler, int verifiers, int drafters) {
  auto h = health_when(scheduler.http(), [&](const nlohmann::json& h) {
    return h["verifiers"] == verifiers && h["drafters"] == drafters;
  });
  return h["verifiers"] == verifiers && h["drafters"] == drafters;
}

// `tandem generate --mode ar --json` on the command line: the token ids it prints.
std::vector<int32_t> generate_command_ids(const std::string& model, const std::string& prompt, int max_tokens) {
  const std::string command = std::string(TANDEM_BINARY) + " generate --mode ar --json --threads 1 --model '" + model +
                              "' --max-tokens " + std::to_string(max_tokens) + " --prompt '" + prompt + "'";
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  pclose(pipe);
  return nlohmann::json::parse(out)["ids"].get<std::vector<int32_t>>();
}

std::vector<int32_t> ids_of(const wire::ServerMessage& m) {
  return std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end());
}

TEST(Cluster, SchedulerVerifierAndDrafterProcessesMatchGenerateAr) {
  auto scheduler = start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty()) << "the scheduler did not start";
  auto verifier = start_verifier(*scheduler, "v1", test::stories_model());
  auto drafter = start_drafter(*scheduler, "d1", test::perturbed_stories());
  ASSERT_TRUE(members_are(*scheduler, 1, 1)) << "the nodes did not join";
  ASSERT_TRUE(links_to_drafter(verifier->http(), drafter->endpoint()));

  zmq::context_t context(1);
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Tom", "A big cat"};
  const std::vector<std::string> modes = {"chain", "tree", "ar", "chain"};
  std::vector<std::unique_ptr<Client>> clients;
  for (size_t i = 0; i < prompts.size(); ++i) {
    clients.push_back(std::make_unique<Client>(context, scheduler->endpoint()));
    std::string id = "c";
    id += std::to_string(i);
    wire::ClientMessage m = submit(id, prompts[i], 50, i == 0);
    m.mutable_submit()->set_mode(modes[i]);
    clients.back()->send(m);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto messages = clients[i]->until_end();
    ASSERT_TRUE(messages.back().has_final()) << messages.back().DebugString();
    EXPECT_EQ(ids_of(messages.back()), generate_command_ids(test::stories_model(), prompts[i], 50)) << prompts[i];
    if (i == 0) { EXPECT_EQ(messages.size(), 51u); }  // streamed: a chunk per token, then the final message
    if (modes[i] != "ar") {                           // drafted on the drafter process, partly accepted
      EXPECT_GT(messages.back().final().stats().drafted_tokens(), 0) << modes[i];
      EXPECT_GT(messages.back().final().stats().accepted_tokens(), 0) << modes[i];
    }
  }
  nlohmann::json health = health_once_idle(scheduler->http());
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_EQ(health["kv_cache_bytes"], 0) << health.dump();
  // CPU nodes: the pair's link is ZeroMQ, and every place that shows it says so and why.
  EXPECT_EQ(health["pairs"], nlohmann::json::parse(R"([{"verifier": "v1", "drafter": "d1", "link": "zeromq",
                                                         "reason": "the verifier cannot use NCCL: it runs on the CPU"}])"))
      << health.dump();
  httplib::Client scheduler_http(scheduler->http()), verifier_http(verifier->http());
  auto metrics = scheduler_http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("tandem_pairs{link=\"zeromq\"} 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("tandem_pairs{link=\"nccl\"} 0"), std::string::npos);
  auto verifier_health = verifier_http.Get("/health");
  ASSERT_TRUE(verifier_health);
  EXPECT_EQ(nlohmann::json::parse(verifier_health->body)["drafter_link"]["link"], "zeromq") << verifier_health->body;
  EXPECT_NE(scheduler->log().find("link=zeromq link_reason=\"the verifier cannot use NCCL: it runs on the CPU\""),
            std::string::npos)
      << scheduler->log();
}

// A stranger who connects to a drafter's data port, with no key or with a key of its own,
// is refused by CURVE before anything is read: it receives no token tree meant for the
// verifier and stalls no request (before CURVE, the drafter's socket took turns sending to
// every peer connected, so trees went to the stranger and the verifier waited 30 s).
TEST(Cluster, AStrangerOnTheDrafterPortGetsNothingAndStallsNothing) {
  auto scheduler = start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty());
  auto verifier = start_verifier(*scheduler, "v1", test::stories_model());
  auto drafter = start_drafter(*scheduler, "d1", test::perturbed_stories());
  ASSERT_TRUE(members_are(*scheduler, 1, 1)) << "the nodes did not join";
  ASSERT_TRUE(links_to_drafter(verifier->http(), drafter->endpoint()));
  const std::string drafter_key = drafter->control();  // a drafter's endpoint file: data, HTTP, public key
  ASSERT_EQ(drafter_key.size(), 40u) << drafter_key;

  zmq::context_t context(1);
  zmq::socket_t plain(context, zmq::socket_type::dealer), keyed(context, zmq::socket_type::dealer);
  make_curve_client(keyed, generate_curve_keys(), drafter_key);  // knows the drafter's key, but is not its verifier
  for (zmq::socket_t* stranger : {&plain, &keyed}) {
    stranger->set(zmq::sockopt::linger, 0);
    stranger->connect(drafter->endpoint());
    stranger->send(zmq::str_buffer("\x08\x01garbage"), zmq::send_flags::dontwait);
  }
  Client client(context, scheduler->endpoint());
  for (const std::string prompt : {"Once upon a time", "The little dog", "Lily and Tom"}) {
    wire::ClientMessage m = submit(prompt, prompt, 40);
    m.mutable_submit()->set_mode("chain");
    client.send(m);
    const wire::ServerMessage reply = client.receive(std::chrono::seconds(10));
    ASSERT_TRUE(reply.has_final()) << "no answer within 10 s: " << reply.DebugString();
    EXPECT_EQ(ids_of(reply), test::local_greedy(prompt, 40)) << prompt;
    EXPECT_GT(reply.final().stats().accepted_tokens(), 0) << "drafted on the drafter process";
  }
  for (zmq::socket_t* stranger : {&plain, &keyed}) {
    zmq::pollitem_t item{stranger->handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(500)), 0) << "a stranger received a frame";
  }
  EXPECT_NE(drafter->log().find("event=curve_refused"), std::string::npos) << drafter->log();
}

TEST(Cluster, NodesOfAnotherModelOrVocabularyAreRefused) {
  auto scheduler = start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty());
  auto other = start_verifier(*scheduler, "other", test::perturbed_stories());  // same vocabulary, other weights
  auto foreign = start_drafter(*scheduler, "foreign",
                               test::installed_model("smollm2-135m-instruct-q4_1.gguf"));  // other vocabulary
  auto verifier = start_verifier(*scheduler, "v1", test::stories_model());
  auto drafter = start_drafter(*scheduler, "d1", test::perturbed_stories());  // same vocabulary: fits
  ASSERT_TRUE(members_are(*scheduler, 1, 1)) << scheduler->log();
  const std::string log = scheduler->log();
  EXPECT_NE(log.find("event=node_refused role=verifier name=other why=\"this cluster serves stories260K:"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("event=node_refused role=drafter name=foreign why=\"the drafter's vocabulary (49152 tokens:"),
            std::string::npos)
      << log;
  // Joining again would be refused again: both stop with an error.
  EXPECT_EQ(other->exit_within(std::chrono::seconds(10)), 1);
  EXPECT_EQ(foreign->exit_within(std::chrono::seconds(10)), 1);
  EXPECT_NE(other->log().find("refused this node"), std::string::npos) << other->log();
}

TEST(Cluster, AKilledDrafterLeavesItsRequestsToTheVerifier) {
  const std::string model = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  auto scheduler = start_scheduler(model);
  ASSERT_FALSE(scheduler->control().empty());
  // 3 s: with 1 s, a fresh drafter's first answer sometimes came too late on a loaded 2-core
  // machine (the verifier counted it lost and the third request drafted nothing).
  auto verifier = start_verifier(*scheduler, "v1", model, {"--mode", "chain", "--drafter-timeout-ms", "3000"});
  auto drafter = start_drafter(*scheduler, "d1", model, {"--draft-tokens", "4"});
  ASSERT_TRUE(members_are(*scheduler, 1, 1));
  ASSERT_TRUE(links_to_drafter(verifier->http(), drafter->endpoint()));
  zmq::context_t context(1);
  Client client(context, scheduler->endpoint());
  const std::string prompt = "def fibonacci(n):";
  const auto expected = test::local_generate(prompt, 60, {}, model);

  // kill -9 of the drafter mid-stream: the request finishes on the verifier alone, same output.
  client.send(submit("first", prompt, 60, true));
  std::vector<int32_t> ids;
  wire::ServerMessage m;
  for (;;) {
    m = client.receive();
    ASSERT_TRUE(m.has_chunk() || m.has_final()) << m.DebugString();
    if (m.has_final()) break;
    ids.push_back(m.chunk().ids(0));
    if (ids.size() == 25) drafter->stop(SIGKILL);
  }
  EXPECT_EQ(ids_of(m), expected);
  EXPECT_EQ(ids, expected);
  EXPECT_GT(m.final().stats().accepted_tokens(), 0);  // the drafter drafted before it died
  // The scheduler sees it gone; the verifier serves on without a drafter.
  EXPECT_TRUE(members_are(*scheduler, 1, 0));
  client.send(submit("second", prompt, 20));
  m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(m.final().stats().drafted_tokens(), 0);
  // A new drafter joins and is paired with the verifier.
  auto second_drafter = start_drafter(*scheduler, "d2", model, {"--draft-tokens", "4"});
  ASSERT_TRUE(members_are(*scheduler, 1, 1));
  ASSERT_TRUE(links_to_drafter(verifier->http(), second_drafter->endpoint()));
  client.send(submit("third", prompt, 30));
  m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_GT(m.final().stats().accepted_tokens(), 0) << m.final().stats().DebugString();
  EXPECT_EQ(ids_of(m), std::vector<int32_t>(expected.begin(), expected.begin() + 30));
}

// One drafter process drafts for two verifier processes at once (their requests drafted
// together in shared forward passes); a second drafter joining takes one verifier over;
// losing them leaves both verifiers decoding alone, with the same output.
TEST(Cluster, OneDrafterServesTwoVerifiersAndLosingItLeavesThemAlone) {
  auto scheduler = start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty());
  const std::vector<std::string> timeout = {"--drafter-timeout-ms", "1000"};
  auto v1 = start_verifier(*scheduler, "v1", test::stories_model(), timeout);
  auto v2 = start_verifier(*scheduler, "v2", test::stories_model(), timeout);
  auto drafter = start_drafter(*scheduler, "d1", test::perturbed_stories());
  ASSERT_TRUE(members_are(*scheduler, 2, 1));
  ASSERT_TRUE(links_to_drafter(v1->http(), drafter->endpoint()));
  ASSERT_TRUE(links_to_drafter(v2->http(), drafter->endpoint()));
  EXPECT_NE(scheduler->log().find("event=drafter_paired verifier=v1 drafter=d1 drafter_verifiers=2"),
            std::string::npos);
  EXPECT_NE(scheduler->log().find("event=drafter_paired verifier=v2 drafter=d1 drafter_verifiers=2"), std::string::npos)
      << scheduler->log();

  zmq::context_t context(1);
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Tom",
                                            "A big cat",        "One day",        "The sun was"};
  std::map<std::string, std::vector<int32_t>> expected;
  for (const std::string& prompt : prompts) expected[prompt] = generate_command_ids(test::stories_model(), prompt, 40);
  // Every request at once, in chain mode: the scheduler spreads them over both verifiers.
  auto run_all = [&](const std::string& round) {
    std::vector<std::unique_ptr<Client>> clients;
    for (size_t i = 0; i < prompts.size(); ++i) {
      clients.push_back(std::make_unique<Client>(context, scheduler->endpoint()));
      wire::ClientMessage m = submit(round + std::to_string(i), prompts[i], 40);
      m.mutable_submit()->set_mode("chain");
      clients.back()->send(m);
    }
    std::vector<wire::FinalResult> finals;
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto messages = clients[i]->until_end();
      EXPECT_TRUE(messages.back().has_final()) << messages.back().DebugString();
      EXPECT_EQ(ids_of(messages.back()), expected[prompts[i]]) << round << " " << prompts[i];
      finals.push_back(messages.back().final());
    }
    return finals;
  };
  for (const wire::FinalResult& f : run_all("shared-")) EXPECT_GT(f.stats().accepted_tokens(), 0) << f.DebugString();
  const std::string log = scheduler->log();
  EXPECT_NE(log.find("verifier=v1 outcome=finished mode=chain"), std::string::npos) << log;
  EXPECT_NE(log.find("verifier=v2 outcome=finished mode=chain"), std::string::npos) << log;
  httplib::Client drafter_http(drafter->http());
  auto health = drafter_http.Get("/health");
  ASSERT_TRUE(health);
  const int together = nlohmann::json::parse(health->body)["most_drafted_together"];
  EXPECT_GE(together, 2) << "the drafter never drafted two requests in one forward";
  std::printf("one drafter for two verifiers: at most %d requests drafted together\n", together);

  // A second drafter evens the load: one verifier moves to it.
  auto second = start_drafter(*scheduler, "d2", test::perturbed_stories());
  ASSERT_TRUE(members_are(*scheduler, 2, 2));
  auto moved = [&] { return scheduler->log().find("drafter=d2 drafter_verifiers=1") != std::string::npos; };
  for (int i = 0; i < 100 && !moved(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(moved()) << scheduler->log();
  EXPECT_NE(scheduler->log().find("moved_from=d1"), std::string::npos) << scheduler->log();
  auto links_to_second = [&](const Server& v) {
    const nlohmann::json h = health_when(v.http(), [](const nlohmann::json&) { return true; });
    return h["drafter_link"]["endpoint"] == second->endpoint();
  };
  for (int i = 0; i < 50 && !links_to_second(*v1) && !links_to_second(*v2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(links_to_second(*v1) || links_to_second(*v2)) << "no verifier links to the second drafter";
  for (const wire::FinalResult& f : run_all("split-")) EXPECT_GT(f.stats().accepted_tokens(), 0) << f.DebugString();

  // Both drafters gone: each verifier goes on alone, losslessly.
  drafter->stop(SIGKILL);
  second->stop(SIGKILL);
  ASSERT_TRUE(members_are(*scheduler, 2, 0));
  for (const wire::FinalResult& f : run_all("alone-")) EXPECT_EQ(f.stats().drafted_tokens(), 0) << f.DebugString();
  EXPECT_EQ(health_once_idle(scheduler->http())["live_requests"], 0);
}

TEST(Cluster, AKilledVerifierEndsItsRequestsAndAnotherServesOn) {
  const std::string model = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  auto scheduler = start_scheduler(model);
  ASSERT_FALSE(scheduler->control().empty());
  auto doomed = start_verifier(*scheduler, "doomed", model);
  ASSERT_TRUE(members_are(*scheduler, 1, 0));
  zmq::context_t context(1);
  Client client(context, scheduler->endpoint());
  client.send(submit("long", "Write a long story about a dragon.", 300, true));
  ASSERT_TRUE(client.receive().has_chunk());
  auto survivor = start_verifier(*scheduler, "survivor", model);
  ASSERT_TRUE(members_are(*scheduler, 2, 0));
  doomed->stop(SIGKILL);
  // The request ends with a clear error, quickly, never hangs.
  wire::ServerMessage m;
  do m = client.receive(std::chrono::milliseconds(10000));
  while (m.has_chunk());
  ASSERT_TRUE(m.has_error()) << m.DebugString();
  EXPECT_EQ(m.error().code(), wire::UNAVAILABLE);
  EXPECT_EQ(m.error().request_id(), "long");
  EXPECT_NE(m.error().message().find("verifier 'doomed' was lost"), std::string::npos) << m.error().message();
  EXPECT_TRUE(members_are(*scheduler, 1, 0));
  // New requests go to the survivor.
  client.send(submit("next", "Hello", 6));
  m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(ids_of(m), test::local_generate("Hello", 6, {}, model));
  // With no verifier left, a request is refused at once.
  survivor->stop(SIGKILL);
  ASSERT_TRUE(members_are(*scheduler, 0, 0));
  client.send(submit("none", "Hello", 6));
  m = client.receive(std::chrono::milliseconds(5000));
  ASSERT_TRUE(m.has_error()) << m.DebugString();
  EXPECT_EQ(m.error().code(), wire::UNAVAILABLE);
  nlohmann::json health = health_once_idle(scheduler->http());
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_EQ(health["kv_cache_bytes"], 0) << health.dump();
}

TEST(Cluster, AVanishedClientAndGarbageFramesLeakNothing) {
  const std::string model = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  auto scheduler = start_scheduler(model);
  ASSERT_FALSE(scheduler->control().empty());
  auto verifier = start_verifier(*scheduler, "v1", model, {"--max-batch", "1"});
  ASSERT_TRUE(members_are(*scheduler, 1, 0));
  zmq::context_t context(1);
  {
    Client vanishing(context, scheduler->endpoint());
    wire::ClientMessage m = submit("long", "Write a long story about a dragon.", 300, true);
    m.mutable_submit()->set_heartbeat_ms(200);  // promises a message every 200 ms, then sends none
    vanishing.send(m);
    ASSERT_TRUE(vanishing.receive().has_chunk());
    nlohmann::json busy =
        health_when(scheduler->http(), [](const nlohmann::json& h) { return h["kv_cache_bytes"] > 0; });
    EXPECT_EQ(busy["live_requests"], 1) << busy.dump();
    EXPECT_GT(busy["kv_cache_bytes"].get<int64_t>(), 0) << busy.dump();
  }
  Client client(context, scheduler->endpoint());
  client.send_bytes(std::string("\xff\xff\xff\xff garbage", 12));
  wire::ServerMessage m = client.receive();
  ASSERT_TRUE(m.has_error());
  EXPECT_EQ(m.error().code(), wire::MALFORMED);
  client.send_bytes(std::string((1 << 20) + 1000, 'x'));
  m = client.receive();
  ASSERT_TRUE(m.has_error());
  EXPECT_EQ(m.error().code(), wire::MALFORMED);
  nlohmann::json health = health_once_idle(scheduler->http());
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_EQ(health["kv_cache_bytes"], 0) << health.dump();
  client.send(submit("after", "Hello", 4));
  m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
}

TEST(Cluster, ASigtermedVerifierFinishesItsRequestsAndTakesNoNewOnes) {
  const std::string model = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  auto scheduler = start_scheduler(model);
  ASSERT_FALSE(scheduler->control().empty());
  auto verifier = start_verifier(*scheduler, "v1", model, {"--drain-timeout-ms", "60000"});
  ASSERT_TRUE(members_are(*scheduler, 1, 0));
  // Joined: the scheduler counts the verifier as it answers the join, a moment before the
  // verifier hears the answer and turns ready.
  int ready = 0;
  for (int i = 0; i < 50 && (ready = httplib::Client(verifier->http()).Get("/ready")->status) != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(ready, 200);
  zmq::context_t context(1);
  Client running(context, scheduler->endpoint());
  running.send(submit("running", "Write a long story about a dragon.", 40, true));
  ASSERT_TRUE(running.receive().has_chunk());
  verifier->send_signal(SIGTERM);
  // The draining verifier takes no new request: with no other, it is refused at once.
  Client late(context, scheduler->endpoint());
  wire::ServerMessage m;
  for (int attempt = 0; attempt < 50; ++attempt) {  // until the scheduler has heard of the drain
    late.send(submit("late" + std::to_string(attempt), "Hello", 2));
    m = late.receive();
    if (m.has_error()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(m.has_error()) << m.DebugString();
  EXPECT_EQ(m.error().code(), wire::UNAVAILABLE);
  auto messages = running.until_end();
  ASSERT_TRUE(messages.back().has_final()) << messages.back().DebugString();
  EXPECT_EQ(messages.back().final().stats().generated_tokens(), 40);
  EXPECT_EQ(verifier->wait(), 0);
  EXPECT_TRUE(members_are(*scheduler, 0, 0));
}

}  // namespace
}  // namespace tandem
