// tandem node: one role of a multi-process cluster. Today: the drafter role, which
// serves token trees to a verifier (`tandem serve --remote-drafter`) over ZeroMQ.
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "runner/remote_drafter.h"

namespace tandem {
namespace {

std::atomic<bool> stop_requested{false};
void on_signal(int) { stop_requested = true; }

}  // namespace

int run_node(const std::vector<std::string>& args) {
  Flags f("tandem node",
          "Runs one role of a multi-process cluster until SIGINT or SIGTERM. Roles: drafter (serves token trees\n"
          "to a verifier over ZeroMQ). The scheduler and verifier roles run inside `tandem serve` for now.");
  f.add("role", "", "drafter");
  f.add("listen", "tcp://127.0.0.1:5601", "drafter: ZeroMQ endpoint the verifier connects to (port 0: any)");
  f.add("endpoint-file", "", "write the bound endpoint to this file once listening");
  f.add("draft-model", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "drafter: the draft model");
  f.add("mode", "chain", "drafter: chain or tree");
  f.add("draft-tokens", "5", "drafter: most tokens per chain (tree: depth)");
  f.add("threads", "0", "CPU threads; 0 for one per core");
  f.add("max-context", "4096", "KV positions per request");
  if (!f.parse(args)) return 0;
  const std::string role = f.get("role");
  if (role != "drafter")
    throw UsageError(role.empty() ? "--role is required (drafter)"
                                  : "role '" + role + "' is not available as a separate process yet (drafter is)");
  ModeSettings settings;
  settings.mode = f.get("mode");
  settings.draft_tokens = int(f.get_int("draft-tokens"));
  if (settings.mode != "chain" && settings.mode != "tree") throw UsageError("--mode must be chain or tree");

  auto model = Model::load(resolve_model_path(f.get("draft-model")));
  Transformer draft(*model, int(f.get_int("threads")));
  std::string endpoint;
  auto channel = zmq_channel_listen(f.get("listen"), &endpoint);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cout << "tandem node: drafter " << model->config().name << " (" << settings.mode << "), listening on "
            << endpoint << std::endl;
  if (!f.get("endpoint-file").empty()) std::ofstream(f.get("endpoint-file")) << endpoint << "\n";
  DrafterService service(draft, settings, f.get_int("max-context"));
  service.serve(*channel, stop_requested);
  std::cout << "tandem node: drafter stopping" << std::endl;
  return 0;
}

}  // namespace tandem
