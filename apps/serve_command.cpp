// tandem serve: every role in one process. The scheduler actor takes requests from
// the ZeroMQ and HTTP endpoints and hands them to the verifier actor in this process,
// whose worker runs the installed models; with --control, nodes of other processes
// (more verifiers, drafters) can join the same scheduler.
#include <csignal>
#include <iostream>
#include <memory>

#include "actors/messages.h"
#include "apps/cluster_tls_flags.h"
#include "apps/commands.h"
#include "apps/scheduler_host.h"
#include "apps/verifier_host.h"
#include "transport/control_plane.h"

namespace tandem {
namespace {

volatile std::sig_atomic_t stop_signal = 0;
void on_signal(int signal) { stop_signal = signal; }

Flags serve_flags() {
  Flags f("tandem serve",
          "Loads the target and draft models once and serves generation requests from ZeroMQ clients\n"
          "(tandem generate --server, clients/python) and HTTP until SIGINT or SIGTERM.");
  f.add("listen", "tcp://127.0.0.1:5555", "ZeroMQ endpoint to bind (port 0: any free port)");
  f.add("http", "127.0.0.1:8000",
        "HOST:PORT of the OpenAI-compatible HTTP endpoint (port 0: any free one; '' for none)");
  f.add("control", "", "HOST:PORT where `tandem node` processes may join this scheduler ('' for none)");
  f.add("endpoint-file", "",
        "once listening, write the ZeroMQ endpoint, the HTTP address and the control address to this file, a line "
        "each");
  f.add("node-timeout-ms", "3000", "a joined node silent this long is dropped");
  f.add("drain-timeout-ms", "30000",
        "on SIGTERM or SIGINT: new requests are refused while those running get this long to finish");
  add_client_endpoint_flags(f);
  add_cluster_tls_flags(f);
  add_verifier_flags(f, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  return f;
}

}  // namespace

int run_serve(const std::vector<std::string>& args) {
  Flags flags = serve_flags();
  if (!flags.parse(args)) return 0;
  const ClientEndpointSettings endpoint_settings = client_endpoint_settings(flags);  // bad keys fail before loading
  check_scheduler_exposure(flags, flags.get("listen"), flags.get("http"), flags.get("control"), endpoint_settings);
  const ClusterTls tls = cluster_tls(flags);
  ControlPlane control(tls, add_message_types);
  VerifierHost verifier(flags, control.system, "local");
  SchedulerHost scheduler(control.system, flags.get_int("node-timeout-ms"), verifier.target(), tls);
  const std::string control_address = scheduler.publish(flags.get("control"));
  verifier.join(scheduler.actor(), nullptr, 500, scheduler.local_prover());
  scheduler.open(verifier.target(), flags.get("listen"), flags.get("http"), endpoint_settings);
  ClientEndpoints& endpoints = scheduler.endpoints();
  endpoints.add_health([&verifier, &scheduler] {
    return nlohmann::json{{"kv_shards", verifier.kv_shards()},
                          {"pairs", scheduler.pairs()},
                          {"drafter_link", verifier.drafter_link()},
                          {"prefix_cache", verifier.prefix_cache()}};
  });

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "tandem serve: " << verifier.describe() << "\n"
            << "  roles: scheduler, drafter and verifier in this process\n"
            << "  zeromq clients: " << endpoints.zmq_endpoint() << "\n"
            << "  http (OpenAI-compatible): "
            << (endpoints.http_address() == "none"
                    ? std::string("none")
                    : endpoints.http_address() +
                          "/v1/completions, /v1/chat/completions, /v1/models; /metrics, /health, /ready")
            << "\n"
            << "  nodes join at: " << control_address << std::endl;
  write_endpoint_file(flags.get("endpoint-file"),
                      {endpoints.zmq_endpoint(), endpoints.http_address(), control_address});
  endpoints.serve_until(stop_signal);
  std::cout << "tandem serve: stopping (signal " << int(stop_signal) << ")" << std::endl;
  scheduler.shutdown(std::chrono::milliseconds(flags.get_int("drain-timeout-ms")), [&] { verifier.stop(); });
  return 0;
}

}  // namespace tandem
