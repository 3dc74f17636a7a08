// `tandem serve` as a real process on 127.0.0.1, driven through a real ZeroMQ socket:
// answers equal local generation, concurrent clients each get exactly one answer,
// and bad frames, bad requests, cancels, deadlines and overload each get their error
// while the server keeps serving.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <zmq.hpp>

#include "model/transformer.h"
#include "proto/client.pb.h"
#include "spec/generation.h"
#include "test_helpers.h"

extern char** environ;

namespace tandem {
namespace {

// A tandem child process (`tandem serve` on stories260K unless told), stopped with
// SIGTERM at the end; it writes its endpoint to a file, read back as endpoint().
class Server {
 public:
  explicit Server(const std::vector<std::string>& extra, const std::string& model = test::stories_model())
      : Server(std::vector<std::string>{"serve", "--model", model, "--draft-model", "none", "--listen",
                                        "tcp://127.0.0.1:0", "--http", "", "--threads", "1"},
               extra) {}
  Server(std::vector<std::string> command, const std::vector<std::string>& extra) {
    endpoint_file_ = test::temp_path("endpoint");
    std::vector<std::string> args = {TANDEM_BINARY};
    args.insert(args.end(), command.begin(), command.end());
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {"--endpoint-file", endpoint_file_});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, TANDEM_BINARY, nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    for (int i = 0; i < 300 && endpoint_.empty() && pid_ > 0; ++i) {  // up to 30 s to load and bind
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(endpoint_file_);
      std::getline(in, endpoint_);
      std::getline(in, http_);  // serve: the HTTP address ("none" without --http)
    }
  }
  ~Server() {
    if (pid_ > 0) stop();
  }
  const std::string& endpoint() const { return endpoint_; }
  /// serve's HTTP address, like http://127.0.0.1:PORT.
  const std::string& http() const { return http_; }
  /// Stops the process (SIGTERM, or `signal`) and returns its exit status.
  int stop(int signal = SIGTERM) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  std::string endpoint_file_, endpoint_, http_;
};

// Polls the server's /health until its live requests and KV cache bytes are back to
// zero (they drop just after the last reply goes out); returns the last answer.
nlohmann::json health_once_idle(const std::string& http) {
  httplib::Client client(http);
  nlohmann::json health;
  for (int i = 0; i < 50; ++i) {
    auto res = client.Get("/health");
    if (!res || res->status != 200) return nlohmann::json{{"error", "no answer from " + http + "/health"}};
    health = nlohmann::json::parse(res->body);
    if (health["live_requests"] == 0 && health["kv_cache_bytes"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return health;
}

// One client connection.
class Client {
 public:
  Client(zmq::context_t& context, const std::string& endpoint) : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void send_bytes(const std::string& bytes) { socket_.send(zmq::buffer(bytes), zmq::send_flags::none); }
  void send(const wire::ClientMessage& m) { send_bytes(m.SerializeAsString()); }
  // The next message, or one with nothing set after `timeout` of silence.
  // (The server's once-a-second heartbeats are skipped.)
  wire::ServerMessage receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
    for (;;) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      wire::ServerMessage m;
      if (zmq::poll(&item, 1, timeout) == 0) return m;
      zmq::message_t frame;
      (void)socket_.recv(frame, zmq::recv_flags::none);
      EXPECT_TRUE(m.ParseFromArray(frame.data(), int(frame.size())));
      if (!m.has_heartbeat()) return m;
      ++heartbeats_;
    }
  }
  // Server heartbeats seen so far.
  int heartbeats() const { return heartbeats_; }
  // Messages up to and including the final one or an error.
  std::vector<wire::ServerMessage> until_end() {
    std::vector<wire::ServerMessage> all;
    for (;;) {
      all.push_back(receive());
      if (!all.back().has_chunk()) return all;
    }
  }

 private:
  zmq::socket_t socket_;
  int heartbeats_ = 0;
};

wire::ClientMessage submit(const std::string& id, const std::string& text, int max_tokens, bool stream = false) {
  wire::ClientMessage m;
  m.mutable_submit()->set_request_id(id);
  m.mutable_submit()->set_text(text);
  m.mutable_submit()->set_max_tokens(max_tokens);
  m.mutable_submit()->set_stream(stream);
  return m;
}

// Plain decoding of `text` with `sampling` (default greedy) on `model_path` (default
// stories260K), as `tandem generate` would.
std::vector<int32_t> local_generate(const std::string& text, int max_tokens, SamplingParams sampling = {},
                                    const std::string& model_path = test::stories_model()) {
  auto model = Model::load(model_path);
  Transformer tf(*model, 1);
  GenerationOptions options;
  options.max_tokens = max_tokens;
  options.sampling = sampling;
  return generate_autoregressive(tf, model->tokenizer().encode(text, model->tokenizer().add_bos()), options).ids;
}

std::vector<int32_t> local_greedy(const std::string& text, int max_tokens) { return local_generate(text, max_tokens); }

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
  Server server({"--prefill-chunk", "3", "--max-batch", "16"});
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
  client.send_bytes(std::string(2 << 20, 'x'));
  EXPECT_EQ(error_of(client.receive()), "MALFORMED: frame of 2097152 bytes exceeds the limit of 1048576");

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
    if (modes[i] != "ar") { EXPECT_GT(m.final().stats().drafted_tokens(), 0) << modes[i]; }
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
    auto res = httplib::Client(server.http()).Get("/health");
    ASSERT_TRUE(res);
    nlohmann::json busy = nlohmann::json::parse(res->body);
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

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST(Cluster, ARemoteDrafterProcessDraftsAndItsDeathLeavesTheVerifierAlone) {
  const std::string model = test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  Server drafter(std::vector<std::string>{"node", "--role", "drafter", "--draft-model", model, "--listen",
                                          "tcp://127.0.0.1:0", "--threads", "1", "--draft-tokens", "4"},
                 std::vector<std::string>{});
  ASSERT_FALSE(drafter.endpoint().empty()) << "the drafter node did not start";
  Server server({"--remote-drafter", drafter.endpoint(), "--drafter-timeout-ms", "1000", "--mode", "chain"}, model);
  ASSERT_FALSE(server.endpoint().empty());
  zmq::context_t context(1);
  Client client(context, server.endpoint());
  const std::string prompt = "def fibonacci(n):";
  const auto expected = local_generate(prompt, 60, {}, model);

  // Drafts come from the other process: the same model drafting for itself, all accepted.
  client.send(submit("first", prompt, 60));
  wire::ServerMessage m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), expected);
  EXPECT_GT(m.final().stats().accepted_tokens(), 0);

  // kill -9 of the drafter mid-stream: the request finishes on the verifier alone, same output.
  client.send(submit("second", prompt, 60, true));
  std::vector<int32_t> ids;
  for (;;) {
    m = client.receive();
    ASSERT_TRUE(m.has_chunk() || m.has_final()) << m.DebugString();
    if (m.has_final()) break;
    ids.push_back(m.chunk().ids(0));
    if (ids.size() == 5) drafter.stop(SIGKILL);
  }
  EXPECT_EQ(std::vector<int32_t>(m.final().ids().begin(), m.final().ids().end()), expected);
  EXPECT_EQ(ids, expected);
  // And the server goes on serving without a drafter.
  client.send(submit("third", prompt, 20));
  m = client.receive();
  ASSERT_TRUE(m.has_final()) << m.DebugString();
  EXPECT_EQ(m.final().stats().drafted_tokens(), 0);
}

}  // namespace
}  // namespace tandem
