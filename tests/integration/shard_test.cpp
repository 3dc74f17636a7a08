// KV shards as real processes (tandem node --role shard on 127.0.0.1): generate with
// its committed segments on two shard processes gives the ids it gives alone, in
// every mode, with segments of 8 positions so a story spans many; a shard killed
// mid-request is rebuilt on the other and the ids stay the same; with none left the
// request ends with a clear error within seconds (no hang); the shards' /health shows
// their segments and frees them when requests end.
#include <cstdio>
#include <functional>
#include <future>

#include "process_helpers.h"
#include "security/curve.h"

namespace tandem {
namespace {

using test::Server;

// A shard node; alone unless `scheduler` names a control address to join.
std::unique_ptr<Server> start_shard(const std::string& scheduler = "") {
  return std::make_unique<Server>(
      std::vector<std::string>{"node", "--role", "shard", "--listen", "tcp://127.0.0.1:0", "--threads", "1",
                               "--scheduler", scheduler, "--heartbeat-ms", "200", "--drain-timeout-ms", "3000"},
      std::vector<std::string>{});
}

// The count of attention partials a shard node computed, from its /metrics.
double partials_computed(const Server& shard) {
  httplib::Client client(shard.http());
  auto res = client.Get("/metrics");
  if (!res) return -1;
  const std::string key = "tandem_kv_shard_partial_seconds_count ";
  const size_t at = res->body.find(key);
  return at == std::string::npos ? -1 : std::stod(res->body.substr(at + key.size()));
}

struct Generated {
  int status = -1;
  nlohmann::json json;  // null unless it printed JSON
  std::string errors;
};

// Runs `tandem generate --json` (stories260K and its perturbed drafter unless told) with
// segments of 8 and `extra` flags.
Generated generate(const std::string& mode, const std::vector<std::string>& extra, int max_tokens = 60,
                   const std::string& model = test::stories_model(),
                   const std::string& draft = test::perturbed_stories(),
                   const std::string& prompt = "Lily and Tom went to the park") {
  const std::string errors = test::temp_path("generate-stderr");
  std::string command = std::string(TANDEM_BINARY) + " generate --json --threads 1 --segment 8 --model '" + model +
                        "' --draft-model '" + draft + "' --mode " + mode + " --max-tokens " +
                        std::to_string(max_tokens) + " --prompt '" + prompt + "'";
  for (const auto& e : extra) command += " '" + e + "'";
  command += " 2>" + errors;
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  Generated g;
  const int status = pclose(pipe);
  g.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  g.json = nlohmann::json::parse(out, nullptr, false);
  std::ifstream in(errors);
  g.errors.assign(std::istreambuf_iterator<char>(in), {});
  return g;
}

TEST(Shards, TwoShardProcessesGiveTheIdsOfOneNodeInEveryMode) {
  auto a = start_shard(), b = start_shard();
  ASSERT_FALSE(a->endpoint().empty() || b->endpoint().empty()) << "the shards did not start";
  for (const std::string mode : {"ar", "chain", "tree", "pearl", "lookup", "recycle"}) {
    Generated alone = generate(mode, {});
    ASSERT_EQ(alone.status, 0) << alone.errors;
    ASSERT_EQ(alone.json["ids"].size(), 60u) << mode;
    Generated sharded = generate(mode, {"--kv-shards", a->endpoint() + "," + b->endpoint()});
    ASSERT_EQ(sharded.status, 0) << mode << ": " << sharded.errors;
    EXPECT_EQ(sharded.json["ids"], alone.json["ids"]) << mode;
    Generated local = generate(mode, {"--shards", "3"});
    ASSERT_EQ(local.status, 0) << mode << ": " << local.errors;
    EXPECT_EQ(local.json["ids"], alone.json["ids"]) << mode << " with 3 in-process shards";
  }
  // Every request released its segments; nothing was refused.
  for (const auto* shard : {a.get(), b.get()}) {
    auto health = test::health_when(shard->http(), [](const nlohmann::json& h) { return h["requests"] == 0; });
    EXPECT_EQ(health["requests"], 0) << health.dump();
    EXPECT_EQ(health["kv_bytes"], 0) << health.dump();
    EXPECT_EQ(health["rejected_messages"], 0) << health.dump();
  }
}

TEST(Shards, TheRealPairGivesTheIdsOfOneNodeInEveryModeOnTwoShardProcesses) {
  auto a = start_shard(), b = start_shard();
  ASSERT_FALSE(a->endpoint().empty() || b->endpoint().empty()) << "the shards did not start";
  const std::string target = test::installed_model("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
                    draft = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
                    prompt = "def is_prime(n):";
  for (const std::string mode : {"ar", "chain", "tree", "pearl", "lookup", "recycle"}) {
    Generated alone = generate(mode, {}, 24, target, draft, prompt);
    ASSERT_EQ(alone.status, 0) << alone.errors;
    ASSERT_EQ(alone.json["ids"].size(), 24u) << mode;
    Generated sharded = generate(mode, {"--kv-shards", a->endpoint() + "," + b->endpoint()}, 24, target, draft, prompt);
    ASSERT_EQ(sharded.status, 0) << mode << ": " << sharded.errors;
    EXPECT_EQ(sharded.json["ids"], alone.json["ids"]) << mode;
  }
}

TEST(Shards, TwoVerifiersShareTheShardsWithoutTouchingEachOther) {
  // Both number their requests from 1; the shards keep them apart by connection.
  auto a = start_shard(), b = start_shard();
  ASSERT_FALSE(a->endpoint().empty() || b->endpoint().empty()) << "the shards did not start";
  const Generated alone = generate("chain", {});
  ASSERT_EQ(alone.json["ids"].size(), 60u) << alone.errors;
  const std::vector<std::string> shards{"--kv-shards", a->endpoint() + "," + b->endpoint()};
  auto first = std::async(std::launch::async, [&] { return generate("chain", shards); });
  auto second = std::async(std::launch::async, [&] { return generate("chain", shards); });
  for (Generated g : {first.get(), second.get()}) {
    ASSERT_EQ(g.status, 0) << g.errors;
    EXPECT_EQ(g.json["ids"], alone.json["ids"]);
  }
  for (const auto* shard : {a.get(), b.get()}) {
    auto health = test::health_when(shard->http(), [](const nlohmann::json& h) { return h["requests"] == 0; });
    EXPECT_EQ(health["requests"], 0) << health.dump();
    EXPECT_EQ(health["rejected_messages"], 0) << health.dump();
  }
}

TEST(Shards, ShardNodesJoinTheSchedulerWhichHandsThemToItsVerifiers) {
  auto scheduler = test::start_scheduler(test::stories_model());
  ASSERT_FALSE(scheduler->control().empty()) << "the scheduler did not start";
  auto a = start_shard(scheduler->control()), b = start_shard(scheduler->control());
  Server verifier(std::vector<std::string>{"node", "--role", "verifier", "--name", "v1", "--model",
                                           test::stories_model(), "--threads", "1", "--heartbeat-ms", "200",
                                           "--segment", "8", "--scheduler", scheduler->control()},
                  std::vector<std::string>{});
  auto cluster = test::health_when(scheduler->http(),
                                   [](const nlohmann::json& h) { return h["verifiers"] == 1 && h["shards"] == 2; });
  ASSERT_EQ(cluster["shards"], 2) << cluster.dump();
  auto assigned =
      test::health_when(verifier.http(), [](const nlohmann::json& h) { return h["kv_shards"].size() == 2; });
  ASSERT_EQ(assigned["kv_shards"].size(), 2u) << assigned.dump();

  // Through the scheduler, with the segments on the two shard nodes: the ids of one process.
  const std::string prompt = "Lily and Tom went to the park";
  const Generated alone = generate("ar", {});
  ASSERT_EQ(alone.json["ids"].size(), 60u) << alone.errors;
  zmq::context_t context(1);
  auto ask = [&](const std::string& id) {
    test::Client client(context, scheduler->endpoint());
    client.send(test::submit(id, prompt, 60));
    auto messages = client.until_end();
    EXPECT_TRUE(messages.back().has_final()) << messages.back().DebugString();
    return nlohmann::json(
        std::vector<int32_t>(messages.back().final().ids().begin(), messages.back().final().ids().end()));
  };
  EXPECT_EQ(ask("both"), alone.json["ids"]);
  const double a_before = partials_computed(*a);
  EXPECT_GT(a_before, 0) << "shard a computed no partials";
  EXPECT_GT(partials_computed(*b), 0) << "shard b computed no partials";

  // Shards joined through the scheduler speak CURVE and admit only the verifiers' keys: a
  // stranger with no key, or with a key of its own, has nothing it sends read (the shard
  // rejects no message) and gets nothing back.
  ASSERT_EQ(a->control().size(), 40u) << "a shard's endpoint file: data, HTTP, public key";
  zmq::socket_t plain(context, zmq::socket_type::dealer), keyed(context, zmq::socket_type::dealer);
  make_curve_client(keyed, generate_curve_keys(), a->control());
  for (zmq::socket_t* stranger : {&plain, &keyed}) {
    stranger->set(zmq::sockopt::linger, 0);
    stranger->connect(a->endpoint());
    stranger->send(zmq::str_buffer("\x0a\x03"
                                   "abc"),
                   zmq::send_flags::dontwait);
  }
  for (zmq::socket_t* stranger : {&plain, &keyed}) {
    zmq::pollitem_t item{stranger->handle(), 0, ZMQ_POLLIN, 0};
    EXPECT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(500)), 0) << "a stranger received a frame";
  }
  EXPECT_EQ(test::health_when(a->http(), [](const nlohmann::json&) { return true; })["rejected_messages"], 0);
  EXPECT_NE(a->log().find("event=curve_refused"), std::string::npos) << a->log();

  // Shard b dies: the scheduler drops it, the verifier goes on with a alone.
  b->stop(SIGKILL);
  assigned = test::health_when(verifier.http(), [](const nlohmann::json& h) { return h["kv_shards"].size() == 1; });
  ASSERT_EQ(assigned["kv_shards"].size(), 1u) << assigned.dump();
  EXPECT_EQ(ask("a-alone"), alone.json["ids"]);
  EXPECT_GT(partials_computed(*a), a_before);

  // Shard a drains on SIGTERM: no shard left, the verifier holds the next request itself.
  EXPECT_EQ(a->stop(SIGTERM), 0);
  assigned = test::health_when(verifier.http(), [](const nlohmann::json& h) { return h["kv_shards"].empty(); });
  EXPECT_TRUE(assigned["kv_shards"].empty()) << assigned.dump();
  EXPECT_EQ(ask("none"), alone.json["ids"]);
  EXPECT_EQ(test::health_when(scheduler->http(), [](const nlohmann::json& h) { return h["shards"] == 0; })["shards"],
            0);
}

TEST(Shards, AKilledShardIsRebuiltOnTheOtherAndTheIdsStayTheSame) {
  auto a = start_shard(), b = start_shard();
  ASSERT_FALSE(a->endpoint().empty() || b->endpoint().empty()) << "the shards did not start";
  const std::string qwen = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  Generated alone = generate("ar", {}, 120, qwen);
  ASSERT_EQ(alone.json["ids"].size(), 120u) << alone.errors;
  // The real 0.5B model decodes slowly enough to be caught mid-request: shard b dies
  // (SIGKILL) once it holds a segment; a's request goes on with every segment on a.
  std::thread killer([&] {
    test::health_when(b->http(), [](const nlohmann::json& h) { return h["segments"] > 0; });
    b->stop(SIGKILL);
  });
  Generated g =
      generate("ar", {"--kv-shards", a->endpoint() + "," + b->endpoint(), "--shard-timeout-ms", "2000"}, 120, qwen);
  killer.join();
  ASSERT_EQ(g.status, 0) << g.errors;
  EXPECT_EQ(g.json["ids"], alone.json["ids"]);
  auto health = test::health_when(a->http(), [](const nlohmann::json& h) { return h["requests"] == 0; });
  EXPECT_EQ(health["kv_bytes"], 0) << health.dump();
}

TEST(Shards, WithEveryShardKilledTheRequestEndsWithAClearErrorNotAHang) {
  auto a = start_shard();
  ASSERT_FALSE(a->endpoint().empty()) << "the shard did not start";
  std::thread killer([&] {
    test::health_when(a->http(), [](const nlohmann::json& h) { return h["segments"] > 0; });
    a->stop(SIGKILL);
  });
  const auto started = std::chrono::steady_clock::now();
  Generated g = generate("ar", {"--kv-shards", a->endpoint(), "--shard-timeout-ms", "2000"}, 400,
                         test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  killer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
  EXPECT_NE(g.status, 0);
  EXPECT_NE(g.errors.find("no KV shard is left"), std::string::npos) << g.errors;
}

TEST(Shards, AVerifierNodeListsItsShardsOnHealth) {
  auto a = start_shard();
  ASSERT_FALSE(a->endpoint().empty());
  Server verifier(std::vector<std::string>{"node", "--role", "verifier", "--model", test::stories_model(),
                                           "--draft-model", "none", "--threads", "1", "--scheduler", "127.0.0.1:9",
                                           "--http", "127.0.0.1:0", "--shards", "1", "--kv-shards", a->endpoint()},
                  std::vector<std::string>{});
  ASSERT_FALSE(verifier.http().empty()) << "the verifier did not start";
  auto health = test::health_when(verifier.http(), [](const nlohmann::json& h) { return h.contains("kv_shards"); });
  ASSERT_EQ(health["kv_shards"].size(), 2u) << health.dump();
  EXPECT_EQ(health["kv_shards"][0]["name"], "local-0");
  EXPECT_EQ(health["kv_shards"][0]["segments"], 0);
  EXPECT_EQ(health["kv_shards"][1]["name"], a->endpoint());
  EXPECT_EQ(health["kv_shards"][1]["lost"], false);
}

// Sends `prompt` to `serve` over ZeroMQ; its final result.
wire::FinalResult ask(const Server& serve, const std::string& id, const std::string& prompt) {
  zmq::context_t context(1);
  test::Client client(context, serve.endpoint());
  client.send(test::submit(id, prompt, 60));
  auto messages = client.until_end();
  EXPECT_TRUE(messages.back().has_final()) << messages.back().DebugString();
  return messages.back().final();
}

nlohmann::json ids_of(const wire::FinalResult& f) {
  return nlohmann::json(std::vector<int32_t>(f.ids().begin(), f.ids().end()));
}

// The request releases its segments, but the prefix cache keeps its conversation where it
// was, on the shards (`segments_on_a_shard` counts one's), and the same prompt again reads
// its start from there: whole segments, as the prompt ends inside one kept on a shard.
void expect_prompt_kept_on_shards(const Server& serve, const std::function<int64_t()>& segments_on_a_shard) {
  const std::string prompt = "Lily and Tom went to the park. They saw a big dog and a little cat. The dog ran";
  const nlohmann::json alone = generate("ar", {}, 60, test::stories_model(), test::perturbed_stories(), prompt).json;
  const wire::FinalResult first = ask(serve, "r", prompt);
  EXPECT_EQ(ids_of(first), alone["ids"]);
  EXPECT_EQ(first.stats().cached_tokens(), 0);
  auto health = test::health_when(serve.http(), [](const nlohmann::json& h) { return h["live_requests"] == 0; });
  EXPECT_GT(segments_on_a_shard(), 0);
  EXPECT_EQ(health["prefix_cache"]["entries"], 1) << health.dump();
  const wire::FinalResult again = ask(serve, "r2", prompt);
  EXPECT_EQ(ids_of(again), alone["ids"]);
  EXPECT_GE(again.stats().cached_tokens(), 16) << again.stats().DebugString();
  EXPECT_EQ(again.stats().cached_tokens() % 8, 0);
}

TEST(Shards, ServeRunsShardsInProcessAndListsThemOnHealth) {
  Server serve({"--http", "127.0.0.1:0", "--shards", "2", "--segment", "8"});
  ASSERT_FALSE(serve.endpoint().empty()) << "serve did not start";
  expect_prompt_kept_on_shards(serve, [&] {
    const nlohmann::json health = test::health_when(serve.http(), [](const nlohmann::json&) { return true; });
    return health["kv_shards"][1]["segments"].get<int64_t>();
  });
  auto health = test::health_when(serve.http(), [](const nlohmann::json& h) { return h["live_requests"] == 0; });
  EXPECT_EQ(health["kv_shards"][1]["name"], "local-1");
  EXPECT_GT(health["kv_shards"][1]["last_partial_ms"], 0) << "shard 1 computed no partials";
}

TEST(Shards, APromptCachedOnAShardProcessIsReadFromIt) {
  auto a = start_shard();
  ASSERT_FALSE(a->endpoint().empty());
  Server serve({"--http", "127.0.0.1:0", "--kv-shards", a->endpoint(), "--segment", "8"});
  ASSERT_FALSE(serve.endpoint().empty()) << "serve did not start";
  expect_prompt_kept_on_shards(serve, [&] {
    const nlohmann::json health = test::health_when(a->http(), [](const nlohmann::json&) { return true; });
    EXPECT_EQ(health["rejected_messages"], 0) << health.dump();
    return health["segments"].get<int64_t>();
  });
}

TEST(Shards, AShardRefusesGarbageAndKeepsServing) {
  auto a = start_shard();
  ASSERT_FALSE(a->endpoint().empty());
  {
    zmq::context_t context(1);
    test::Client garbage(context, a->endpoint());
    garbage.send_bytes(std::string("\x12\x34 not a shard message", 22));
    garbage.send_bytes(std::string(1 << 20, '\xff'));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  auto health = test::health_when(a->http(), [](const nlohmann::json& h) { return h["rejected_messages"] >= 2; });
  EXPECT_GE(health["rejected_messages"], 2) << health.dump();
  Generated g = generate("ar", {"--kv-shards", a->endpoint()});
  EXPECT_EQ(g.status, 0) << g.errors;
  EXPECT_EQ(g.json["ids"], generate("ar", {}).json["ids"]);
}

}  // namespace
}  // namespace tandem
