#include "apps/verifier_host.h"

#include <thread>

#include "actors/messages.h"
#include "actors/node_agent.h"
#include "apps/commands.h"
#include "apps/kv_shard_setup.h"
#include "apps/pearl_flags.h"
#include "model/fingerprint.h"
#include "speculation/pearl_runner.h"

namespace tandem {

void add_verifier_flags(Flags& f, const std::string& default_draft_model) {
  f.add("model", kDefaultModel, "target model");
  f.add("draft-model", default_draft_model,
        "local draft model for chain, tree and pearl (same vocabulary); 'none' for none. A drafter node the "
        "scheduler pairs with this verifier takes over chain and tree drafting");
  f.add("mode", "auto",
        "mode for requests that name none: ar, chain, tree, pearl, lookup, recycle, or auto (each pass, per "
        "request, the drafter and depth that pay most given acceptance so far and the batch, or none)");
  f.add("draft-tokens", "5", "most drafted tokens per verifier pass");
  f.add("drafter-timeout-ms", "30000", "a drafter node silent this long is dropped; requests go on without it");
  f.add("threads", "0", "CPU threads; 0 for one per core");
  f.add("matmul", matmul_path_name(kDefaultMatmulPath),
        "quantized matmul: int8 (8-bit activation blocks, repacked weights) or precise (int16 activations)");
  f.add("draft-threads", "0", "pearl: threads for the drafter (0: a quarter, at least 1)");
  add_draft_vocab_flags(f);
  add_pearl_flags(f);
  add_device_flags(f, true);
  add_link_flags(f);
  add_chat_template_flag(f);
  f.add("max-tokens", "256", "tokens generated when a request asks for 0");
  f.add("max-tokens-limit", "4096", "most tokens a request may ask for");
  f.add("max-context", "4096", "KV cache positions per request");
  f.add("queue-limit", "64", "requests waiting or running; beyond it clients get OVERLOADED");
  f.add("max-client-requests", "16",
        "of those, most from one client (an HTTP API key or address, a ZeroMQ connection); the next one waiting "
        "is taken from the client with the fewest running");
  f.add("max-batch", "8",
        "sequences decoded together, their trees verified in one forward pass (a request for n samples takes n)");
  f.add("prefill-chunk", "128", "most prompt tokens of joining requests per pass (chunked prefill)");
  f.add("prefix-cache-bytes", "1073741824",
        "keys and values of earlier prompts kept for later prompts that start the same way (least recently used "
        "out first; 0: none), counting those kept on KV shards");
  f.add("prefix-cache-scope", "global",
        "global: every client's prompts serve every other's; key: each client (API key, CURVE key or address) reads "
        "only its own, so no tenant sees another's prompts in its timings");
  add_kv_shard_flags(f);
}

VerifierHost::VerifierHost(const Flags& flags, caf::actor_system& system, std::string name)
    : system_(system), name_(std::move(name)) {
  options_.defaults.draft_tokens = int(flags.get_int("draft-tokens"));
  options_.default_max_tokens = int(flags.get_int("max-tokens"));
  options_.max_tokens_limit = int(flags.get_int("max-tokens-limit"));
  options_.max_context = flags.get_int("max-context");
  options_.queue_limit = size_t(std::max<int64_t>(1, flags.get_int("queue-limit")));
  options_.client_limit = size_t(std::max<int64_t>(1, flags.get_int("max-client-requests")));
  options_.max_batch = int(std::max<int64_t>(1, flags.get_int("max-batch")));
  options_.prefill_chunk = std::max<int64_t>(1, flags.get_int("prefill-chunk"));
  options_.drafter_timeout = std::chrono::milliseconds(flags.get_int("drafter-timeout-ms"));
  options_.prefix_cache_bytes = size_t(std::max<int64_t>(0, flags.get_int("prefix-cache-bytes")));
  const std::string& scope = flags.get("prefix-cache-scope");
  if (scope != "global" && scope != "key")
    throw UsageError("--prefix-cache-scope is global or key, not '" + scope + "'");
  options_.prefix_cache_per_client = scope == "key";
  try {
    options_.defaults.mode = parse_mode(flags.get("mode"));
    check_mode_settings(options_.defaults);
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }

  target_ = Model::load(resolve_model_path(flags.get("model")));
  apply_chat_template_flag(flags, target_->tokenizer());
  model_fingerprint_ = model_fingerprint(*target_);  // stated at every (re)join
  vocabulary_fingerprint_ = vocabulary_fingerprint(target_->tokenizer());
  if (flags.get("draft-model") != "none") draft_ = load_draft_model(flags.get("draft-model"), *target_);
  const int threads = int(flags.get_int("threads"));
  MatmulPath matmul;
  try {
    matmul = matmul_path_named(flags.get("matmul"));
  } catch (const std::invalid_argument& e) { throw UsageError(std::string("--matmul: ") + e.what()); }
  const ThreadSplit split = split_threads(threads, int(flags.get_int("draft-threads")));
  read_pearl_flags(flags, options_.defaults.pearl);
  options_.defaults.pearl.drafter_cpus = split.drafter_cpus;
  options_.defaults.pearl.verifier_cpus = split.verifier_cpus;
  const int segment = attention_segment(flags);
  const Device device = device_flag(flags, "device"), draft_device = device_flag(flags, "draft-device");
  link_site_ = link_site_flag(flags, device);
  target_tf_ = std::make_unique<Transformer>(*target_, threads, segment, matmul, device);
  ServingModels models{target_tf_.get()};
  if (draft_) {
    draft_tf_ = std::make_unique<Transformer>(*draft_, threads, segment, matmul, draft_device);
    pearl_target_tf_ = std::make_unique<Transformer>(*target_, split.verifier, segment, matmul, device);
    pearl_draft_tf_ = std::make_unique<Transformer>(*draft_, split.drafter, segment, matmul, draft_device);
    draft_vocabulary_ = apply_draft_vocab(flags, *draft_tf_);
    apply_draft_vocab(flags, *pearl_draft_tf_);
    models = {target_tf_.get(), draft_tf_.get(), pearl_target_tf_.get(), pearl_draft_tf_.get()};
  }
  shards_ = kv_shards_from_flags(flags, target_->config(), segment);
  shards_.pool->use_data_keys(data_keys_);
  options_.kv_remote = shards_.pool->factory();
  route_->name = name_;
  worker_ = std::make_unique<RequestWorker>(models, options_, verifier_sink(route_));
  worker_->set_data_keys(data_keys_);
  // Without a local draft model, chain and tree requests decode alone until a drafter node is paired.
  if (!draft_) worker_->use_remote_drafter("");
  actor_ = spawn_verifier(system_, *worker_, *shards_.pool, route_);
}

void VerifierHost::join(const caf::actor& scheduler, std::shared_ptr<std::atomic<bool>> lost, int64_t heartbeat_ms,
                        JoinProver prove) {
  if (agent_) caf::anon_send_exit(agent_, caf::exit_reason::user_shutdown);
  NodeAgentSettings s;
  s.role = "verifier";
  s.name = name_;
  s.work = actor_;
  s.model = model_fingerprint_;
  s.vocabulary = vocabulary_fingerprint_;
  s.data_key = data_keys_.public_key;
  s.site = format_link_site(link_site_);
  s.prove = std::move(prove);
  RequestWorker* worker = worker_.get();
  s.load = [worker] { return std::pair<int64_t, int64_t>(int64_t(worker->live_requests()), worker->kv_cache_bytes()); };
  s.heartbeat_ms = heartbeat_ms;
  s.scheduler_lost = std::move(lost);
  s.joined = joined_;
  agent_ = spawn_node_agent(system_, scheduler, std::move(s));
}

void VerifierHost::drain(std::chrono::milliseconds timeout) {
  if (agent_) caf::anon_send(agent_, drain_atom::value);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (live_requests() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void VerifierHost::stop() {
  if (agent_) caf::anon_send_exit(agent_, caf::exit_reason::user_shutdown);
  if (actor_) {
    caf::scoped_actor self{system_};
    self->request(actor_, caf::infinite, flush_atom::value).receive([](bool) {}, [](caf::error&) {});
  }
  agent_ = actor_ = nullptr;
  worker_.reset();  // each request left hears CANCELLED through the scheduler
}

std::string VerifierHost::describe() const {
  return "target " + target_->config().name + " (" + target_->path() + "), draft " +
         (draft_ ? draft_->config().name + " (" + draft_vocabulary_ + ")" : std::string("none")) + "; default mode " +
         mode_name(options_.defaults.mode) + ", " + device_label(target_tf_->device_name()) + ", " +
         std::to_string(target_tf_->pool().size()) + " threads; " +
         describe_links(link_site_, device_named(target_tf_->device_name())) +
         (shards_.description.empty() ? "" : "; " + shards_.description);
}

}  // namespace tandem
