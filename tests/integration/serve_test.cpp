// `tandem serve` as a real process on 127.0.0.1, driven through a real ZeroMQ socket:
// answers equal local generation, concurrent clients each get exactly one answer,
// and bad frames, bad requests, cancels, deadlines and overload each get their error
// while the server keeps serving.
#include "process_helpers.h"

namespace tandem {
namespace {

using test::Client;
using test::health_once_idle;
using test::health_when;
using test::local_generate;
using test::local_greedy;
using test::Server;
using test::submit;

TEST(Serve, AnswersEqualLocalGenerationAndStream) {
  Server server({});
  ASSERT_FALSE(server.endpoint().empty()) << "the server did not start";
  zmq::context_t context(1);
  Client client(context, server.endpoint());
  client.send(submit("a", "Once upon a time", 60, true));
  auto messages = client.until_end();
  ASSERT_TRUE(messages.back().has_final()) << messages.back().DebugString();
  const auto& final = messages.back().final();
  std::vector<int32_t> ids(final.ids().begin(), final.ids().end());
  EXPECT_EQ(ids, local_greedy("Once upon a time", 60));
  EXPECT_EQ(final.request_id(), "a");
  EXPECT_EQ(messages.size(), ids.size() + 1);  // one chunk per token, then the final message
  std::string streamed;
  for (size_t i = 0; i + 1 < messages.size(); ++i) streamed += messages[i].chunk().text();
  EXPECT_EQ(streamed, final.text());
  EXPECT_EQ(final.stats().generated_tokens(), 60);
  EXPECT_EQ(server.stop(), 0);
}

std::string request_name(size_t i) {
  std::string name = "r";
  name += std::to_string(i);  // (not "r" + ...: GCC 12 warns falsely about that inlined concatenation)
  return name;
}

TEST(Serve, ThirtyTwoConcurrentClientsEachGetExactlyOneCorrectAnswer) {
  // Prompts of 5 to 8 tokens go in 3-token chunks, sharing passes with others' decoding;
  // 16 requests at a time, greedy and sampled, different lengths.
  Server server({"--prefill-chunk", "3", "--max-batch", "16", "--max-client-requests", "32"});  // one host
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Tom",  "Tim had a red ball",
                                            "The sun was hot",  "A big cat",      "Sara liked to", "One day, a bird"};
  const int kClients = 32;
  auto settings_of = [&](int i) {
    SamplingParams sampling;
    if (i % 2) sampling = {0.8f, 40, 0.95f, uint64_t(i)};  // odd clients sample, each with its own seed
    return sampling;
  };
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(context, server.endpoint()));
    wire::ClientMessage m = submit(request_name(size_t(i)), prompts[size_t(i) % prompts.size()], 16 + i);
    SamplingParams sampling = settings_of(i);
    m.mutable_submit()->mutable_sampling()->set_temperature(sampling.temperature);
    m.mutable_submit()->mutable_sampling()->set_top_k(sampling.top_k);
    m.mutable_submit()->mutable_sampling()->set_top_p(sampling.top_p);
    m.mutable_submit()->mutable_sampling()->set_seed(sampling.seed);
    clients.back()->send(m);
  }
  for (int i = 0; i < kClients; ++i) {
    wire::ServerMessage m = clients[size_t(i)]->receive();
    ASSERT_TRUE(m.has_final()) << i << ": " << m.DebugString();
    EXPECT_EQ(m.final().request_id(), request_name(size_t(i)));
    EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()),
              local_generate(prompts[size_t(i) % prompts.size()], 16 + i, settings_of(i)))
        << "client " << i;
  }
  // Exactly one answer each: nothing more arrives.
  for (auto& client : clients)
    EXPECT_EQ(client->receive(std::chrono::milliseconds(100)).kind_case(), wire::ServerMessage::KIND_NOT_SET);
}

TEST(Serve, BadFramesAndRequestsGetErrorsAndTheServerCarriesOn) {
  Server server({"--queue-limit", "2", "--max-tokens-limit", "300"});
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  Client client(context, server.endpoint());
  auto error_of = [&](const wire::ServerMessage& m) {
    return m.has_error() ? wire::ErrorCode_Name(m.error().code()) + ": " + m.error().message() : m.DebugString();
  };

  client.send_bytes(std::string("\xff\xff\xff\xff garbage", 12));
  EXPECT_EQ(error_of(client.receive()), "MALFORMED: frame is not a tandem ClientMessage");
  client.send_bytes(std::string((1 << 20) + 1000, 'x'));
  EXPECT_EQ(error_of(client.receive()), "MALFORMED: frame of 1049576 bytes exceeds the limit of 1048576");
  // Far past the limit, libzmq drops the connection before the frame is read: no answer
  // (the client socket reconnects by itself).
  client.send_bytes(std::string(64 << 20, 'x'));
  EXPECT_FALSE(client.receive(std::chrono::milliseconds(1500)).has_error());

  wire::ClientMessage bad_ids = submit("ids", "", 5);
  bad_ids.mutable_submit()->mutable_ids()->add_ids(1);
  bad_ids.mutable_submit()->mutable_ids()->add_ids(99999);
  client.send(bad_ids);
  EXPECT_EQ(error_of(client.receive()), "INVALID_ARGUMENT: token id 99999 is outside the vocabulary of 512");
  client.send(submit("big", "Once", 100000));
  EXPECT_EQ(error_of(client.receive()), "INVALID_ARGUMENT: max_tokens must be between 0 and 300");
  wire::ClientMessage bad_mode = submit("mode", "Once", 5);
  bad_mode.mutable_submit()->set_mode("warp");
  client.send(bad_mode);
  EXPECT_NE(error_of(client.receive()).find("INVALID_ARGUMENT: mode must be ar, chain"), std::string::npos);
  wire::ClientMessage late = submit("late", "Once upon a time", 300);
  late.mutable_submit()->set_deadline_ms(1);
  client.send(late);
  EXPECT_EQ(error_of(client.receive()).rfind("DEADLINE_EXCEEDED", 0), 0u);

  // Still serving.
  client.send(submit("after", "Once upon a time", 10));
  wire::ServerMessage m = client.receive();
  ASSERT_TRUE(m.has_final()) << error_of(m);
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), local_greedy("Once upon a time", 10));
}

TEST(Serve, EveryModeBatchedTogetherMatchesAutoregressive) {
  // A perturbed copy of the model drafts, so drafts are partly rejected; all requests
  // decode in the same passes, their trees side by side in one forward.
  Server server({"--draft-model", test::perturbed_stories(), "--max-batch", "8", "--prefill-chunk", "2"});
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  const std::vector<std::string> modes = {"ar", "chain", "tree", "lookup", "recycle", "pearl", "chain", "tree"};
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Tom",  "Tim had a red ball",
                                            "The sun was hot",  "A big cat",      "Sara liked to", "One day, a bird"};
  std::vector<std::unique_ptr<Client>> clients;
  for (size_t i = 0; i < modes.size(); ++i) {
    clients.push_back(std::make_unique<Client>(context, server.endpoint()));
    wire::ClientMessage m = submit(request_name(i), prompts[i], 80);
    m.mutable_submit()->set_mode(modes[i]);
    clients.back()->send(m);
  }
  for (size_t i = 0; i < modes.size(); ++i) {
    wire::ServerMessage m = clients[i]->receive();
    ASSERT_TRUE(m.has_final()) << modes[i] << ": " << m.DebugString();
    EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), local_greedy(prompts[i], 80))
        << modes[i];
    EXPECT_EQ(m.final().stats().mode(), modes[i]);
    int64_t drafted = m.final().stats().drafted_tokens();
    // PEARL's drafter runs beside the batch on its own thread: on two busy cores it may get no
    // turn before 80 tokens are verified (seen once). It must draft in one of three tries.
    for (int retry = 0; modes[i] == "pearl" && drafted == 0 && retry < 3; ++retry) {
      std::string id = "pearl-again-";
      id += std::to_string(retry);
      wire::ClientMessage again = submit(id, prompts[i], 80);
      again.mutable_submit()->set_mode("pearl");
      clients[i]->send(again);
      const wire::ServerMessage r = clients[i]->receive();
      ASSERT_TRUE(r.has_final()) << r.DebugString();
      EXPECT_EQ(std::vector<int32_t>(r.final().ids().begin(), r.final().ids().end()), local_greedy(prompts[i], 80));
      drafted = r.final().stats().drafted_tokens();
    }
    if (modes[i] != "ar") { EXPECT_GT(drafted, 0) << modes[i]; }
  }
}

TEST(Serve, AClientThatVanishesHasItsRequestCancelled) {
  // One request at a time on the real 0.5B, so a long request would hold the server for seconds.
  Server server({"--queue-limit", "1", "--max-batch", "1", "--http", "127.0.0.1:0"},
                test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  {
    Client vanishing(context, server.endpoint());
    wire::ClientMessage m = submit("long", "Write a long story about a dragon.", 300, true);
    m.mutable_submit()->set_heartbeat_ms(200);  // promises a message every 200 ms, then sends none
    vanishing.send(m);
    ASSERT_TRUE(vanishing.receive().has_chunk());  // it is running, holding a KV cache
    nlohmann::json busy = health_when(server.http(), [](const nlohmann::json& h) { return h["kv_cache_bytes"] > 0; });
    EXPECT_EQ(busy["live_requests"], 1) << busy.dump();
    EXPECT_GT(busy["kv_cache_bytes"].get<int64_t>(), 0) << busy.dump();
  }  // the client's socket closes
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // The vanished client's request no longer counts against the queue limit of 1.
  Client next(context, server.endpoint());
  next.send(submit("next", "Hello", 4));
  wire::ServerMessage m = next.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  // Nothing leaks: no live request and no KV cache once everything has ended.
  nlohmann::json health = health_once_idle(server.http());
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_EQ(health["kv_cache_bytes"], 0) << health.dump();
}

TEST(Serve, OverloadAndCancelOfARunningRequest) {
  // A real 0.5B model, so that a request runs for seconds while the test acts on it.
  Server server({"--queue-limit", "2", "--max-batch", "1", "--http", "127.0.0.1:0"},
                test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  Client client(context, server.endpoint());
  // Two long requests fill the queue; a third is OVERLOADED; cancelling the first ends it.
  client.send(submit("long1", "Write a long story about a dragon.", 200, true));
  client.send(submit("long2", "Count from one to ten.", 8));
  client.send(submit("long3", "Hello", 8));
  wire::ClientMessage cancel;
  cancel.mutable_cancel()->set_request_id("long1");
  bool overloaded = false, cancelled = false, second_done = false;
  for (int i = 0; i < 400 && !(overloaded && cancelled && second_done); ++i) {
    wire::ServerMessage m = client.receive();
    ASSERT_NE(m.kind_case(), wire::ServerMessage::KIND_NOT_SET)
        << "the server went silent (overloaded " << overloaded << ", cancelled " << cancelled << ", second done "
        << second_done << ")";
    if (m.has_chunk() && !cancelled) client.send(cancel);
    if (m.has_error() && m.error().request_id() == "long3") overloaded = m.error().code() == wire::OVERLOADED;
    if (m.has_error() && m.error().request_id() == "long1") cancelled = m.error().code() == wire::CANCELLED;
    if (m.has_final()) {
      EXPECT_EQ(m.final().request_id(), "long2");
      second_done = true;
    }
  }
  EXPECT_TRUE(overloaded);
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(second_done);
  nlohmann::json health = health_once_idle(server.http());
  EXPECT_EQ(health["live_requests"], 0) << health.dump();
  EXPECT_EQ(health["kv_cache_bytes"], 0) << health.dump();
}

TEST(Serve, OneClientCannotTakeEverySlotOrCutInLine) {
  // One request at a time, so the order in which waiting requests start shows.
  Server server({"--max-batch", "1", "--max-client-requests", "3", "--queue-limit", "8"},
                test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  Client greedy(context, server.endpoint()), other(context, server.endpoint(), "127.0.0.2");  // two hosts
  for (const char* id : {"a1", "a2", "a3", "a4"}) greedy.send(submit(id, "Count from one to ten.", 12));
  wire::ServerMessage refused = greedy.receive();
  ASSERT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_EQ(refused.error().request_id(), "a4");
  EXPECT_EQ(refused.error().code(), wire::OVERLOADED);
  EXPECT_NE(refused.error().message().find("this client already has 3 requests"), std::string::npos);
  // The other client's request arrives behind a2 and a3, yet starts as soon as a1 ends.
  other.send(submit("b1", "Hello", 4));
  ASSERT_TRUE(other.receive().has_final());
  int greedy_finished = 0;
  for (wire::ServerMessage m; (m = greedy.receive(std::chrono::milliseconds(0))).has_final();) ++greedy_finished;
  EXPECT_EQ(greedy_finished, 1) << "the other client waited for more than the request that was running";
  for (int i = greedy_finished; i < 3; ++i) EXPECT_TRUE(greedy.receive().has_final());
}

TEST(Serve, SigtermDrainsRunningRequestsAndRefusesNewOnes) {
  Server server({"--http", "127.0.0.1:0", "--drain-timeout-ms", "60000"},
                test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  Client running(context, server.endpoint());
  running.send(submit("running", "Write a long story about a dragon.", 40, true));
  ASSERT_TRUE(running.receive().has_chunk());
  server.send_signal(SIGTERM);
  // Draining: not ready, new requests refused, the running one goes on.
  httplib::Client http(server.http());
  int ready_status = 0;
  for (int i = 0; i < 50 && ready_status != 503; ++i) {
    if (auto res = http.Get("/ready")) ready_status = res->status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ready_status, 503);
  Client late(context, server.endpoint());
  late.send(submit("late", "Hello", 4));
  wire::ServerMessage m = late.receive();
  ASSERT_TRUE(m.has_error()) << m.DebugString();
  EXPECT_EQ(m.error().code(), wire::UNAVAILABLE);
  EXPECT_EQ(m.error().message(), "the server is shutting down");
  auto messages = running.until_end();
  ASSERT_TRUE(messages.back().has_final()) << messages.back().DebugString();
  EXPECT_EQ(messages.back().final().stats().generated_tokens(), 40);
  EXPECT_EQ(server.wait(), 0);
}

}  // namespace
}  // namespace tandem
