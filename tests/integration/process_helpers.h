#pragma once
// What the integration tests share: tandem child processes, a ZeroMQ client, /health
// polling and local generation to compare against.
#include <fcntl.h>
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
#include "speculation/generation.h"
#include "test_helpers.h"

extern char** environ;

namespace tandem::test {

// A tandem child process (`tandem serve` on stories260K unless told), stopped with
// SIGTERM at the end; it writes its endpoints to a file, read back as endpoint(), http()
// and control() (a verifier node writes its name once its model is loaded).
class Server {
 public:
  explicit Server(const std::vector<std::string>& extra, const std::string& model = stories_model())
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
    log_file_ = test::temp_path("stderr");  // its event lines; shown if the test fails
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, TANDEM_BINARY, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 300 && endpoint_.empty() && pid_ > 0; ++i) {  // up to 30 s to load and bind
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(endpoint_file_);
      std::getline(in, endpoint_);
      std::getline(in, http_);     // serve, scheduler: the HTTP address ("none" without --http)
      std::getline(in, control_);  // serve, scheduler: where nodes join ("none" without --control)
    }
  }
  ~Server() {
    if (pid_ > 0) stop();
    if (::testing::Test::HasFailure()) std::cerr << "--- stderr of the tandem process:\n" << log();
  }
  /// What the process wrote to stderr so far (its event lines).
  std::string log() const {
    std::ifstream in(log_file_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  const std::string& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }
  /// serve's HTTP address, like http://127.0.0.1:PORT.
  const std::string& http() const { return http_; }
  /// serve's or a scheduler node's control address, HOST:PORT.
  const std::string& control() const { return control_; }
  /// Stops the process (SIGTERM, or `signal`) and returns its exit status.
  int stop(int signal = SIGTERM) {
    send_signal(signal);
    return wait();
  }
  /// Sends a signal without waiting.
  void send_signal(int signal) { kill(pid_, signal); }
  /// Waits for the process to exit and returns its exit status.
  int wait() { return reap(0); }
  /// Its exit status once it exits on its own within `timeout`; -2 if it is still running then.
  int exit_within(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int status; std::chrono::steady_clock::now() < deadline;) {
      if ((status = reap(WNOHANG)) != -2) return status;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -2;
  }

 private:
  // waitpid with `options`: the exit status (-1 if killed by a signal), or -2 if it has not exited.
  int reap(int options) {
    int status = 0;
    if (waitpid(pid_, &status, options) != pid_) return -2;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  pid_t pid_ = -1;
  std::string endpoint_file_, endpoint_, http_, control_, log_file_;
};

// The scheduler node: clients on ZeroMQ and HTTP, nodes join on its control port.
inline std::unique_ptr<Server> start_scheduler(const std::string& model, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {
      "node",        "--role",    "scheduler",   "--model",           model, "--listen", "tcp://127.0.0.1:0", "--http",
      "127.0.0.1:0", "--control", "127.0.0.1:0", "--node-timeout-ms", "2000"};
  return std::make_unique<Server>(args, extra);
}

// Polls the server's /health (for up to 5 s) until `done` holds for its answer; returns the
// last answer. Verifiers report their KV cache with their heartbeats, so it lags a little.
template <typename Done>
nlohmann::json health_when(const std::string& http, Done done) {
  httplib::Client client(http);
  nlohmann::json health;
  for (int i = 0; i < 50; ++i) {
    auto res = client.Get("/health");
    if (!res || res->status != 200) return nlohmann::json{{"error", "no answer from " + http + "/health"}};
    health = nlohmann::json::parse(res->body);
    if (done(health)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return health;
}

// Waits until the verifier (a verifier node, or tandem serve) says it links to the drafter
// whose data endpoint is `drafter_endpoint`. The scheduler counts a pair before it tells the
// verifier (only once the drafter has admitted the verifier's key), and a request that
// starts in between drafts nothing: seen under the sanitizers on a loaded machine. Tests
// that expect drafting wait for this first.
inline bool links_to_drafter(const std::string& verifier_http, const std::string& drafter_endpoint) {
  auto linked = [&](const nlohmann::json& h) {
    return h["drafter_link"]["link"] == "zeromq" && h["drafter_link"]["endpoint"] == drafter_endpoint;
  };
  return linked(health_when(verifier_http, linked));
}

// /health once live requests and KV cache bytes are back to zero.
inline nlohmann::json health_once_idle(const std::string& http) {
  return health_when(http, [](const nlohmann::json& h) { return h["live_requests"] == 0 && h["kv_cache_bytes"] == 0; });
}

// One client connection.
class Client {
 public:
  // `from`: the loopback address to connect from (another client, as the server counts them:
  // by key, else by address), such as "127.0.0.2"; '' for the default.
  Client(zmq::context_t& context, const std::string& endpoint, const std::string& from = "")
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(from.empty() ? endpoint : "tcp://" + from + ":0;" + endpoint.substr(6));  // after "tcp://"
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

inline wire::ClientMessage submit(const std::string& id, const std::string& text, int max_tokens, bool stream = false) {
  wire::ClientMessage m;
  m.mutable_submit()->set_request_id(id);
  m.mutable_submit()->set_text(text);
  m.mutable_submit()->set_max_tokens(max_tokens);
  m.mutable_submit()->set_stream(stream);
  return m;
}

// Plain decoding of `text` with `sampling` (default greedy) on `model_path` (default
// stories260K), as `tandem generate` would.
inline std::vector<int32_t> local_generate(const std::string& text, int max_tokens, SamplingParams sampling = {},
                                           const std::string& model_path = stories_model()) {
  auto model = Model::load(model_path);
  Transformer tf(*model, 1);
  GenerationOptions options;
  options.max_tokens = max_tokens;
  options.sampling = sampling;
  return generate_autoregressive(tf, model->tokenizer().encode(text, model->tokenizer().add_bos()), options).ids;
}

inline std::vector<int32_t> local_greedy(const std::string& text, int max_tokens) {
  return local_generate(text, max_tokens);
}

// The peak resident memory of a process, in kB (VmHWM).
inline long peak_rss_kb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// A shell command's exit status and its output (stdout and stderr together).
struct CommandRun {
  int status = -1;
  std::string out;
};

inline CommandRun run_command(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  CommandRun r;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) r.out.append(buffer, n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A CA and a certificate of it for `name` that lets any node join (*/*), made by `tandem keys`
// at a fresh path BASE:
// BASE-ca.crt and BASE-ca.key, BASE.crt and BASE.key. Returns BASE.
inline std::string make_certificate(const std::string& stem, const std::string& name) {
  const std::string base = temp_path(stem), tandem = TANDEM_BINARY;
  const CommandRun ca = run_command(tandem + " keys ca --out " + base + "-ca");
  const CommandRun cert =
      run_command(tandem + " keys cert --ca " + base + "-ca --out " + base + " --name " + name + " --node '*/*'");
  EXPECT_EQ(ca.status, 0) << ca.out;
  EXPECT_EQ(cert.status, 0) << cert.out;
  return base;
}

// The flags that give a node a certificate of the CA at CA_BASE (a make_certificate BASE + "-ca")
// binding `nodes` ("ROLE/NAME,..."), made by `tandem keys cert --node` at a fresh path.
inline std::vector<std::string> node_credentials(const std::string& ca_base, const std::string& stem,
                                                 const std::string& nodes) {
  const std::string base = temp_path(stem), tandem = TANDEM_BINARY;
  const CommandRun cert =
      run_command(tandem + " keys cert --ca " + ca_base + " --out " + base + " --node '" + nodes + "'");
  EXPECT_EQ(cert.status, 0) << cert.out;
  return {"--cluster-ca", ca_base + ".crt", "--cluster-cert", base + ".crt", "--cluster-key", base + ".key"};
}

}  // namespace tandem::test
