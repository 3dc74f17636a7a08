// `tandem node --role drafter`: a draft model serving token trees over a data channel
// (ZeroMQ with CURVE, or an NCCL link per paired verifier on GPUs NCCL can join) to the
// verifiers the scheduler pairs with it.
#include <iostream>

#include "apps/client_endpoints.h"
#include "apps/commands.h"
#include "apps/node_roles.h"
#include "model/fingerprint.h"
#include "observability/log.h"
#include "runner/remote_drafter.h"
#include "server/ops_http.h"
#include "transport/nccl_channel.h"
#include "transport/peer_set.h"

namespace tandem {

int run_drafter(const Flags& flags, const std::string& name, const ClusterTls& tls) {
  ModeSettings settings;
  const std::string& drafter_mode = flags.get("drafter-mode");
  if (drafter_mode != "chain" && drafter_mode != "tree") throw UsageError("--drafter-mode must be chain or tree");
  settings.mode = parse_mode(drafter_mode);
  settings.draft_tokens = int(flags.get_int("draft-tokens"));
  const std::string model_name =
      flags.get("draft-model") == "none" ? "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" : flags.get("draft-model");
  const bool curve = data_channel_curve(flags, tls, "verifiers (drafter data)");  // admits its paired verifiers
  auto model = Model::load(resolve_model_path(model_name));
  const Device draft_device = device_flag(flags, "draft-device");
  const LinkSite site = link_site_flag(flags, draft_device);
  Transformer draft(*model, int(flags.get_int("threads")), kAttentionSegment, kDefaultMatmulPath, draft_device);
  const std::string vocabulary = apply_draft_vocab(flags, draft);
  // Several verifiers may draft here. A draft request it can serve carries at most a context
  // of --max-context token ids (varints of up to 5 bytes) and its sampling; libzmq drops a
  // connection that sends a frame past this limit before allocating it.
  const int64_t max_frame = 16 * flags.get_int("max-context") + 65536;
  const DataChannel data = listen_for_verifiers(flags, curve, max_frame);
  // Paired verifiers on GPUs NCCL can join reach it over NCCL links of their own, the rest over ZeroMQ.
  PeerSet peers(*data.listener.channel);
  PeerChannel* channel = &peers;
  DrafterService service(draft, settings, flags.get_int("max-context"));
  auto joined = std::make_shared<std::atomic<bool>>(false);
  OpsHttp ops(http_address(flags, "drafter"), {[&] {
                                                 return nlohmann::json{
                                                     {"live_requests", service.live_requests()},
                                                     {"most_drafted_together", service.most_drafted_together()},
                                                     {"nccl_links", peers.links()},
                                                     {"joined", bool(*joined)}};
                                               },
                                               [&] { return bool(*joined) || flags.get("scheduler").empty(); }});
  std::cout << "tandem node: drafter '" << name << "' " << model->config().name << " (" << mode_name(settings.mode)
            << ", " << vocabulary << "), " << device_label(draft.device_name()) << ", data on " << data.endpoint << "; "
            << describe_links(site, draft_device) << "; metrics on " << ops.address() << std::endl;
  write_endpoint_file(flags.get("endpoint-file"), {data.endpoint, ops.address(), data.curve_key()});

  ServingThread serving([&](const std::atomic<bool>& stop) { service.serve(*channel, stop); });
  NodeAgentSettings s;
  s.role = "drafter";
  s.name = name;
  data.describe(flags, s);
  s.model = model_fingerprint(*model);
  s.vocabulary = vocabulary_fingerprint(model->tokenizer());
  s.site = format_link_site(site);
  s.nccl_link = [&peers, draft_device](const std::string& verifier, const std::string& ids) {
    log_event(LogLevel::info, "nccl_link_joining", {{"verifier", verifier}});
    peers.add_link(
        "nccl:" + verifier, [=] { return join_nccl_drafter_link(ids, 1, draft_device); },
        [verifier](const std::string& why) {
          log_event(LogLevel::warn, "nccl_link_failed", {{"verifier", verifier}, {"why", why}});
        });
  };
  s.load = [&service] { return std::pair<int64_t, int64_t>(int64_t(service.live_requests()), 0); };
  s.joined = joined;
  serve_joined(flags, tls, std::move(s), [] { return true; });
  serving.stop();
  std::cout << "tandem node: drafter stopping" << std::endl;
  return 0;
}

}  // namespace tandem
