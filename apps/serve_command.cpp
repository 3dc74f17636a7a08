// tandem serve: load the models once and answer clients over ZeroMQ.
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "apps/commands.h"
#include "apps/flags.h"
#include "server/http_gateway.h"
#include "server/request_worker.h"
#include "server/zmq_frontend.h"

namespace tandem {
namespace {

volatile std::sig_atomic_t stop_signal = 0;
void on_signal(int signal) { stop_signal = signal; }

Flags serve_flags() {
  Flags f("tandem serve",
          "Loads the target and draft models once and serves generation requests from ZeroMQ clients\n"
          "(tandem generate --server, clients/python) until SIGINT or SIGTERM.");
  f.add("listen", "tcp://127.0.0.1:5555", "ZeroMQ endpoint to bind (port 0: any free port)");
  f.add("http", "127.0.0.1:8000",
        "HOST:PORT of the OpenAI-compatible HTTP endpoint (port 0: any free one; '' for none)");
  f.add("endpoint-file", "",
        "once listening, write the ZeroMQ endpoint and the HTTP address to this file, a line each");
  f.add("model", kDefaultModel, "target model");
  f.add("draft-model", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "draft model (same vocabulary); 'none' for none");
  f.add("mode", "ar",
        "mode for requests that name none: ar, chain, tree, pearl, lookup, recycle (on CPUs where a pass over k "
        "tokens costs about k decode steps, ar is fastest; see README)");
  f.add("draft-tokens", "5", "most drafted tokens per verifier pass");
  f.add("remote-drafter", "",
        "ZeroMQ endpoint of a `tandem node --role drafter`: chain and tree requests draft there (use with "
        "--draft-model none)");
  f.add("drafter-timeout-ms", "30000", "a remote drafter silent this long is dropped; requests go on without it");
  f.add("threads", "0", "CPU threads; 0 for one per core");
  f.add("draft-threads", "0", "pearl: threads for the drafter (0: a quarter, at least 1)");
  f.add("max-tokens", "256", "tokens generated when a request asks for 0");
  f.add("max-tokens-limit", "4096", "most tokens a request may ask for");
  f.add("max-context", "4096", "KV cache positions per request");
  f.add("queue-limit", "64", "requests waiting or running; beyond it clients get OVERLOADED");
  f.add("max-batch", "8", "requests decoded together, their trees verified in one forward pass");
  f.add("prefill-chunk", "128", "most prompt tokens of joining requests per pass (chunked prefill)");
  return f;
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  Flags flags = serve_flags();
  if (!flags.parse(args)) return 0;
  ServingOptions options;
  options.defaults.mode = flags.get("mode");
  options.defaults.draft_tokens = int(flags.get_int("draft-tokens"));
  options.default_max_tokens = int(flags.get_int("max-tokens"));
  options.max_tokens_limit = int(flags.get_int("max-tokens-limit"));
  options.max_context = flags.get_int("max-context");
  options.queue_limit = size_t(std::max<int64_t>(1, flags.get_int("queue-limit")));
  options.max_batch = int(std::max<int64_t>(1, flags.get_int("max-batch")));
  options.prefill_chunk = std::max<int64_t>(1, flags.get_int("prefill-chunk"));
  try {
    check_mode_settings(options.defaults);
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }

  auto target = Model::load(resolve_model_path(flags.get("model")));
  std::unique_ptr<Model> draft;
  if (flags.get("draft-model") != "none") {
    draft = load_draft_model(flags.get("draft-model"), *target);
  } else if (needs_draft_model(options.defaults.mode) && flags.get("remote-drafter").empty()) {
    throw UsageError("--mode " + options.defaults.mode + " needs a draft model");
  }
  const int threads = int(flags.get_int("threads"));
  const ThreadSplit split = split_threads(threads, int(flags.get_int("draft-threads")));
  options.defaults.pearl.drafter_cpus = split.drafter_cpus;
  options.defaults.pearl.verifier_cpus = split.verifier_cpus;
  Transformer target_tf(*target, threads);
  std::unique_ptr<Transformer> draft_tf, pearl_target_tf, pearl_draft_tf;
  ServingModels models{&target_tf, nullptr, nullptr, nullptr};
  if (draft) {
    draft_tf = std::make_unique<Transformer>(*draft, threads);
    pearl_target_tf = std::make_unique<Transformer>(*target, split.verifier);
    pearl_draft_tf = std::make_unique<Transformer>(*draft, split.drafter);
    models = {&target_tf, draft_tf.get(), pearl_target_tf.get(), pearl_draft_tf.get()};
  }

  RemoteDrafterLink remote;
  if (!flags.get("remote-drafter").empty()) {
    remote.channel = zmq_channel_connect(flags.get("remote-drafter"));
    remote.timeout = std::chrono::milliseconds(flags.get_int("drafter-timeout-ms"));
    remote.vocab = target->config().vocab_size;
    models.remote_drafter = &remote;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // The worker replies through the frontend or the HTTP gateway, which hand requests to
  // the worker; `wiring` lets each be torn down while the others still run.
  std::recursive_mutex wiring;
  RequestWorker* worker_ptr = nullptr;
  ZmqFrontend* frontend_ptr = nullptr;
  HttpGateway* gateway_ptr = nullptr;
  auto worker =
      std::make_unique<RequestWorker>(models, options, [&](const std::string& client, const wire::ServerMessage& m) {
        std::lock_guard lock(wiring);
        if (HttpGateway::owns(client)) {
          if (gateway_ptr) gateway_ptr->deliver(client, m);
        } else if (frontend_ptr) {
          frontend_ptr->reply(client, m);
        }
      });
  auto frontend =
      std::make_unique<ZmqFrontend>(flags.get("listen"), [&](const std::string& client, const wire::ClientMessage& m) {
        std::lock_guard lock(wiring);
        if (!worker_ptr) return;
        worker_ptr->heard_from(client);
        if (m.has_submit())
          worker_ptr->submit(client, m.submit());
        else if (m.has_cancel())
          worker_ptr->cancel(client, m.cancel().request_id());
      });
  std::unique_ptr<HttpGateway> gateway;
  std::string http_address = "none";
  if (const std::string& http = flags.get("http"); !http.empty()) {
    const size_t colon = http.rfind(':');
    if (colon == std::string::npos) throw UsageError("--http must be HOST:PORT, got '" + http + "'");
    gateway = std::make_unique<HttpGateway>(http.substr(0, colon), std::stoi(http.substr(colon + 1)), *worker, *target);
    http_address = "http://" + http.substr(0, colon) + ":" + std::to_string(gateway->port());
  }
  {
    std::lock_guard lock(wiring);
    worker_ptr = worker.get();
    frontend_ptr = frontend.get();
    gateway_ptr = gateway.get();
  }

  std::cout << "tandem serve: target " << target->config().name << " (" << target->path() << "), draft "
            << (draft ? draft->config().name : std::string("none")) << "\n"
            << "  roles: scheduler, drafter and verifier in this process; default mode " << options.defaults.mode
            << ", " << target_tf.pool().size() << " threads\n"
            << "  zeromq clients: " << frontend->endpoint() << "\n"
            << "  http (OpenAI-compatible): "
            << (gateway ? http_address + "/v1/completions, /v1/chat/completions, /v1/models" : std::string("none"))
            << std::endl;
  if (!flags.get("endpoint-file").empty())
    std::ofstream(flags.get("endpoint-file")) << frontend->endpoint() << "\n" << http_address << "\n";
  // Every second, each ZeroMQ client with a request hears that the server is alive, so a
  // client can tell a slow answer from a dead server.
  wire::ServerMessage heartbeat;
  heartbeat.mutable_heartbeat();
  for (int tick = 1; !stop_signal; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (tick % 10) continue;
    std::lock_guard lock(wiring);
    if (!worker_ptr || !frontend_ptr) continue;
    for (const std::string& client : worker_ptr->live_clients())
      if (!HttpGateway::owns(client)) frontend_ptr->reply(client, heartbeat);
  }
  std::cout << "tandem serve: stopping (signal " << int(stop_signal) << ")" << std::endl;
  // Stop taking requests, end the ones left (each client hears CANCELLED), then close the endpoints.
  {
    std::lock_guard lock(wiring);
    worker_ptr = nullptr;
  }
  if (gateway) gateway->refuse_new();
  worker.reset();
  gateway.reset();
  {
    std::lock_guard lock(wiring);
    gateway_ptr = nullptr;
    frontend_ptr = nullptr;
  }
  frontend.reset();
  return 0;
}

}  // namespace tandem
