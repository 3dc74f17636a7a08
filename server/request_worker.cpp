#include "server/request_worker.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "observability/log.h"
#include "observability/metrics.h"
#include "server/prefill_shares.h"
#include "speculation/pass_times.h"
#include "speculation/pearl_runner.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

wire::ServerMessage error_message(const RequestTicket& ticket, int code, const std::string& message) {
  wire::ServerMessage m;
  m.mutable_error()->set_request_id(ticket.spec.id);
  m.mutable_error()->set_code(wire::ErrorCode(code));
  m.mutable_error()->set_message(message);
  return m;
}

// Runs `f`; any failure becomes the error message that ends the request.
template <typename F>
std::optional<wire::ServerMessage> failure_of(const RequestTicket& ticket, F&& f) {
  try {
    f();
    return std::nullopt;
  } catch (const RequestAborted& a) {
    return error_message(ticket, a.code, a.message);
  } catch (const std::invalid_argument& e) {
    return error_message(ticket, wire::INVALID_ARGUMENT, e.what());
  } catch (const RemoteKvUnavailable& e) {
    return error_message(ticket, wire::UNAVAILABLE, e.what());
  } catch (const std::exception& e) { return error_message(ticket, wire::INTERNAL, e.what()); }
}

// What mode auto's timed passes say now (the process's PassTimes), for the dashboards.
void publish_pass_times() {
  const PassTimes& times = PassTimes::process();
  metrics().auto_step_seconds.Set(times.step_seconds());
  for (const auto& [drafter, scale] : times.scales()) metrics().auto_cost_scale(drafter).Set(scale);
}

}  // namespace

RequestWorker::RequestWorker(ServingModels models, ServingOptions options, Sink sink)
    : models_(models),
      options_(std::move(options)),
      sink_(std::move(sink)),
      admission_(options_.max_batch),
      prompt_reuse_(options_.prefix_cache_bytes, options_.prefix_cache_per_client) {
  models_.pass_rows = &pass_rows_;
  if (models_.pearl_draft) {
    AheadDraftingOptions drafting = pearl_drafting_options(options_.defaults.pearl);
    drafting.cpus.clear();  // the batch pins neither side: its passes mix modes
    pearl_drafting_ = std::make_unique<AheadDrafting>(*models_.pearl_draft, options_.max_context, drafting);
    models_.pearl_drafting = pearl_drafting_.get();
  }
  thread_ = std::thread([this] { loop(); });
  prepare_thread_ = std::thread([this] { prepare(); });
  const ModelConfig& config = models_.target->model().config();
  const double bytes_per_position = double(config.n_layers) * config.kv_dim() * 2 * sizeof(float);
  metrics().kv_cache_capacity.Set(bytes_per_position * double(options_.max_context) * options_.max_batch);
  metrics().queue_limit.Set(double(options_.queue_limit));
}

RequestWorker::~RequestWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [key, ticket] : live_) ticket->cancelled = true;
  }
  incoming_ready_.notify_all();
  prepare_thread_.join();
  wake_.notify_all();
  thread_.join();
}

std::vector<std::string> RequestWorker::live_clients() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> clients;
  for (const auto& [key, ticket] : live_)
    if (clients.empty() || clients.back() != key.first) clients.push_back(key.first);
  return clients;
}

size_t RequestWorker::live_requests() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

void RequestWorker::reply_error(const RequestTicket& ticket, int code, const std::string& message) {
  sink_(ticket.spec.client, error_message(ticket, code, message));
}

void RequestWorker::submit(const std::string& client, const wire::SubmitRequest& request) {
  auto ticket = std::make_shared<RequestTicket>();
  ticket->spec.client = client;  // for an error reply, should the request not parse
  ticket->spec.id = request.request_id();
  ticket->received = Clock::now();
  ticket->last_heard_ms = steady_now_ms();
  try {
    ticket->spec = parse_request(client, request, options_);
    check_prompt_fits(ticket->spec.prompt, models_.target->model().tokenizer(), options_.max_context);
  } catch (const std::invalid_argument& e) {
    reply_error(*ticket, wire::INVALID_ARGUMENT, e.what());
    return;
  }
  const RequestSpec& spec = ticket->spec;
  ticket->deadline =
      spec.deadline_ms > 0 ? ticket->received + std::chrono::milliseconds(spec.deadline_ms) : Clock::time_point::max();
  {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(client, spec.id);
    if (live_.count(key)) {
      reply_error(*ticket, wire::INVALID_ARGUMENT, "request id '" + spec.id + "' is already in use");
      return;
    }
    if (live_.size() >= options_.queue_limit) {
      reply_error(*ticket, wire::OVERLOADED,
                  "the server holds its limit of " + std::to_string(options_.queue_limit) + " requests");
      return;
    }
    const size_t own = size_t(std::count_if(live_.begin(), live_.end(),
                                            [&](const auto& entry) { return entry.second->spec.group == spec.group; }));
    if (own >= options_.client_limit) {
      reply_error(*ticket, wire::OVERLOADED,
                  "this client already has " + std::to_string(own) + " requests waiting or running, its limit");
      return;
    }
    live_[key] = ticket;
    incoming_.push_back(ticket);
  }
  incoming_ready_.notify_all();
}

void RequestWorker::prepare() {
  const Tokenizer& tokenizer = models_.target->model().tokenizer();
  for (;;) {
    std::shared_ptr<RequestTicket> ticket;
    {
      std::unique_lock lock(mutex_);
      incoming_ready_.wait(lock, [&] { return stopping_ || !incoming_.empty(); });
      if (stopping_) return;  // the loop ends what is left in incoming_
      ticket = incoming_.front();
      incoming_.pop_front();
    }
    auto failed = failure_of(*ticket, [&] {
      check_alive(*ticket);
      ticket->prompt_ids = prompt_ids(ticket->spec.prompt, tokenizer);
    });
    if (failed) {
      end(*ticket, *failed);
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      if (!stopping_) {
        queue_.push_back(ticket);
        ticket = nullptr;
      }
    }
    if (ticket) end(*ticket, error_message(*ticket, wire::CANCELLED, "the server is shutting down"));
    wake_.notify_all();
  }
}

void RequestWorker::heard_from(const std::string& client) {
  const int64_t now = steady_now_ms();
  std::lock_guard lock(mutex_);
  for (auto it = live_.lower_bound({client, ""}); it != live_.end() && it->first.first == client; ++it)
    it->second->last_heard_ms = now;
}

void RequestWorker::cancel(const std::string& client, const std::string& request_id) {
  std::lock_guard lock(mutex_);
  auto it = live_.find({client, request_id});
  if (it != live_.end()) it->second->cancelled = true;
}

void RequestWorker::client_gone(const std::string& client) {
  std::lock_guard lock(mutex_);
  for (auto it = live_.lower_bound({client, ""}); it != live_.end() && it->first.first == client; ++it)
    it->second->cancelled = true;
}

void RequestWorker::use_remote_drafter(const std::string& endpoint, const std::string& drafter_key,
                                       const std::string& nccl_group_ids) {
  std::lock_guard lock(mutex_);
  drafter_change_ = DrafterChange{endpoint, drafter_key, nccl_group_ids};
}

nlohmann::json RequestWorker::drafter_link() const {
  std::lock_guard lock(mutex_);
  if (drafter_change_) {  // heard, to be taken up by the next request that starts
    const DrafterChange& c = *drafter_change_;
    const std::string next = c.endpoint.empty() ? "none" : c.nccl_group_ids.empty() ? "zeromq" : "nccl";
    return {{"link", next}, {"endpoint", c.endpoint}, {"reason", "the next request to start takes it up"}};
  }
  return {{"link", link_.empty() ? "none" : link_}, {"endpoint", link_endpoint_}, {"reason", link_reason_}};
}

void RequestWorker::switch_remote_drafter() {
  std::optional<DrafterChange> change;
  {
    std::lock_guard lock(mutex_);
    change.swap(drafter_change_);
  }
  if (!change) return;
  auto link = std::make_unique<RemoteDrafterLink>();
  link->timeout = options_.drafter_timeout;
  link->vocab = models_.target->model().config().vocab_size;
  std::string kind = "zeromq", reason;
  if (change->endpoint.empty()) {
    link->lost = true;  // no drafter: chain and tree requests decode alone, still lossless
    kind = "";
  } else if (!change->nccl_group_ids.empty()) {
    try {
      link->channel = join_nccl_drafter_link(change->nccl_group_ids, 0, device_named(models_.target->device_name()));
      kind = "nccl";
    } catch (const std::runtime_error& e) {
      reason = std::string("NCCL failed, on ZeroMQ: ") + e.what();
      log_event(LogLevel::warn, "nccl_link_failed", {{"why", e.what()}});
    }
  }
  if (!link->channel && !link->lost)
    link->channel = change->key.empty() ? zmq_channel_connect(change->endpoint)
                                        : zmq_channel_connect_curve(change->endpoint, data_keys_, change->key);
  {
    std::lock_guard lock(mutex_);
    link_ = kind;
    link_endpoint_ = change->endpoint;
    link_reason_ = reason;
  }
  metrics().drafter_link("nccl").Set(kind == "nccl" ? 1 : 0);
  metrics().drafter_link("zeromq").Set(kind == "zeromq" ? 1 : 0);
  models_.remote_drafter = link.get();
  drafter_links_.push_back(std::move(link));
}

void RequestWorker::end(const RequestTicket& ticket, const wire::ServerMessage& last) {
  sink_(ticket.spec.client, last);
  std::lock_guard lock(mutex_);
  live_.erase({ticket.spec.client, ticket.spec.id});
}

void RequestWorker::conclude(ActiveRequest& request, const wire::ServerMessage& last) {
  if (last.has_final()) prompt_reuse_.after_finish(request);
  SampleGroup* group = request.group();
  if (!group) return end(request.ticket(), last);
  if (group->ended()) return;  // answered already: the others were stopped
  if (!last.has_final()) {
    group->fail();
    return end(request.ticket(), last);
  }
  if (auto whole = group->finished(request.sample_index(), last)) end(request.ticket(), *whole);
}

int64_t RequestWorker::cache_bytes(const std::vector<std::unique_ptr<ActiveRequest>>& active) {
  int64_t bytes = 0;
  std::set<const KvCache*> prompts;
  for (auto& a : active) {
    bytes += int64_t(a->run().cache().bytes_allocated());
    const KvCache* prompt = a->run().cache().shared_prefix();
    if (prompt && prompts.insert(prompt).second) bytes += int64_t(prompt->bytes_allocated());
  }
  return bytes;
}

void RequestWorker::loop() {
  std::vector<std::unique_ptr<ActiveRequest>> active;
  while (admit(active)) {
    step(active);
    const int64_t bytes = cache_bytes(active);
    kv_cache_bytes_ = bytes;
    metrics().kv_cache_used.Set(double(bytes));
  }
  metrics().kv_cache_used.Set(0);
  kv_cache_bytes_ = 0;
  // Every request ends exactly once: the running and the waiting ones hear why.
  for (auto& a : active) conclude(*a, error_message(a->ticket(), wire::CANCELLED, "the server is shutting down"));
  std::deque<std::shared_ptr<RequestTicket>> waiting;
  {
    std::lock_guard lock(mutex_);
    waiting.swap(queue_);
    waiting.insert(waiting.end(), incoming_.begin(), incoming_.end());
    incoming_.clear();
  }
  for (auto& t : waiting) end(*t, error_message(*t, wire::CANCELLED, "the server is shutting down"));
}

bool RequestWorker::admit(std::vector<std::unique_ptr<ActiveRequest>>& active) {
  auto used = [&] {
    int slots = 0;
    for (const auto& a : active) slots += a->batch_slots();
    return slots;
  };
  while (used() < options_.max_batch) {
    std::shared_ptr<RequestTicket> ticket;
    {
      std::unique_lock lock(mutex_);
      // Wait only when there is nothing to decode.
      if (active.empty()) wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return false;
      if (queue_.empty()) return true;
      // A request for n samples needs room for them all (n beyond the batch size was refused
      // when it arrived); server/admission.h says who goes first.
      std::vector<WaitingRequest> waiting;
      for (const auto& t : queue_) waiting.push_back({t->spec.group, int(t->spec.samples), t->passed_over});
      std::map<std::string, int> running;
      for (const auto& a : active) running[a->ticket().spec.group] += a->batch_slots();
      const AdmitChoice choice = admission_.choose(waiting, running, used());
      if (choice.passed_over) ++queue_[*choice.passed_over]->passed_over;
      if (!choice.start) return true;
      ticket = queue_[*choice.start];
      queue_.erase(queue_.begin() + int64_t(*choice.start));
      admission_.started(ticket->spec.group);
    }
    std::vector<std::unique_ptr<ActiveRequest>> started;
    auto failed = failure_of(*ticket, [&] {
      switch_remote_drafter();
      check_alive(*ticket);
      started.push_back(std::make_unique<ActiveRequest>(ticket, models_, options_, sink_));
      prompt_reuse_.before_prefill(*started[0]);
      if (!started[0]->run().prefilling()) prompt_reuse_.after_prefill(*started[0]);
      if (started[0]->ready_to_fork())
        for (auto& sample : started[0]->fork()) started.push_back(std::move(sample));
    });
    if (failed) {
      if (!started.empty() && started[0]->group()) started[0]->group()->fail();
      end(*ticket, *failed);
      continue;
    }
    for (auto& request : started)
      if (request->run().finished())
        conclude(*request, request->final_message());
      else
        active.push_back(std::move(request));
  }
  std::lock_guard lock(mutex_);
  return !stopping_;
}

bool RequestWorker::drafting_pays(const std::vector<std::unique_ptr<ActiveRequest>>& active) {
  int pearl = 0;
  for (const auto& a : active) {
    if (a->run().prefilling()) return false;  // a prompt chunk needs every core more
    pearl += a->drafts_ahead() ? 1 : 0;
  }
  return 2 * pearl > int(active.size());
}

void RequestWorker::step(std::vector<std::unique_ptr<ActiveRequest>>& active) {
  // Samples of a request that has been answered (first_finish) or has failed leave first.
  std::erase_if(active, [](const auto& a) { return a->group() && a->group()->ended(); });
  if (active.empty()) return;
  PassPlan plan = plan_pass(active);
  if (active.empty()) return;
  std::span<const float> logits;
  if (!run_pass(plan, active, logits)) return;
  complete_pass(plan, active, logits);
}

RequestWorker::PassPlan RequestWorker::plan_pass(std::vector<std::unique_ptr<ActiveRequest>>& active) {
  // PEARL requests are drafted for beside the pass when they are most of the batch and no
  // prompt is being prefilled: the drafter's share of the cores is then worth more to the
  // batch than to the verifier (measured in docs/reports/2026-12-01-front-door-and-soak.md).
  // Otherwise the pass gets every core and they decode with what they have. A PEARL request
  // may wait for its first drafts only when that holds up no other kind.
  PassPlan plan;
  plan.drafting_beside = pearl_drafting_ && drafting_pays(active);
  if (pearl_drafting_) {
    pearl_drafting_->set_drafting(plan.drafting_beside);
    pearl_drafting_->allow_waiting(plan.drafting_beside && std::all_of(active.begin(), active.end(), [](const auto& a) {
                                     return a->drafts_ahead();
                                   }));
  }
  // Every drafter hears what it will be asked first: a drafter process then drafts the
  // whole batch's trees together instead of one request at a time.
  for (auto& a : active) a->run().announce_pass();
  // The pass's prompt tokens, shared among the clients with prompts coming in and then among
  // each one's prompts, so that a long prompt, or many, hold another's up by a pass at most.
  std::vector<std::string> prompt_clients;
  for (const auto& a : active)
    if (a->run().prefilling()) prompt_clients.push_back(a->ticket().spec.group);
  PrefillShares prefill(options_.prefill_chunk, prompt_clients);
  // Each request appends its part as its own sequence: a chunk of its prompt while it is
  // prefilling, else its pending token and drafted tree.
  int64_t logit_rows = 0;
  for (size_t i = 0; i < active.size();) {
    SpeculativeRun& run = active[i]->run();
    const size_t before = plan.batch.size();
    int64_t row = -1;
    const bool prefilling = run.prefilling();
    auto failed = failure_of(active[i]->ticket(), [&] {
      check_alive(active[i]->ticket());
      if (prefilling) {
        const std::string& client = active[i]->ticket().spec.group;
        prefill.took(client, run.add_prefill_chunk(plan.batch, int32_t(plan.caches.size()), prefill.share(client)));
        if (run.chunk_ends_prompt()) row = logit_rows++;  // the prompt's last token: the first token's logits
      } else {
        const double drafting_before = run.stats().draft_seconds;
        run.add_pass(plan.batch, int32_t(plan.caches.size()));
        // The verifier waits while a request drafts (PEARL's overlap is what removes this).
        const double drafting = run.stats().draft_seconds - drafting_before;
        metrics().verifier_idle.Increment(drafting);
        if (active[i]->drafts_locally()) metrics().drafter_busy.Increment(drafting);
        row = logit_rows;
        logit_rows += run.pass_tokens();  // every token of a pass asks for logits
      }
    });
    if (failed) {
      plan.batch.resize(before);
      conclude(*active[i], *failed);
      active.erase(active.begin() + int64_t(i));
      continue;
    }
    plan.prefill.push_back(prefilling);
    plan.first_row.push_back(row);
    plan.caches.push_back(&run.cache());
    ++i;
  }
  pass_rows_.store(int64_t(plan.batch.size()));
  return plan;
}

bool RequestWorker::run_pass(const PassPlan& plan, std::vector<std::unique_ptr<ActiveRequest>>& active,
                             std::span<const float>& logits) {
  // Everyone's part in one forward. While PEARL requests are drafted for beside it, the
  // forward keeps to the verifier's share of the cores (the same logits, bit for bit).
  Transformer& verifier = plan.drafting_beside ? *models_.pearl_target : *models_.target;
  const double drafting_before = pearl_drafting_ ? pearl_drafting_->busy_seconds() : 0.0;
  const auto forward_start = std::chrono::steady_clock::now();
  try {
    if (!plan.batch.empty()) logits = verifier.forward(plan.batch, plan.caches);
  } catch (const std::exception&) {
    // A pass that cannot run (its KV shards are gone) ends every request in it, each with
    // the error the failure maps to (rethrown inside failure_of).
    for (auto& a : active) conclude(*a, *failure_of(a->ticket(), [] { throw; }));
    active.clear();
    return false;
  }
  metrics().verifier_busy.Increment(seconds_since(forward_start));
  if (pearl_drafting_) metrics().drafter_busy.Increment(pearl_drafting_->busy_seconds() - drafting_before);
  metrics().batch_requests.Observe(double(active.size()));
  metrics().batch_tokens.Observe(double(plan.batch.size()));
  return true;
}

void RequestWorker::complete_pass(const PassPlan& plan, std::vector<std::unique_ptr<ActiveRequest>>& active,
                                  std::span<const float> logits) {
  // Each request takes its logits: a prefill chunk is committed (and a request for several
  // samples starts the others once its prompt is in), a pass is verified and its accepted
  // tokens streamed; a request that finished or failed gets its last message.
  const size_t vocab = size_t(models_.target->model().config().vocab_size);
  std::vector<std::unique_ptr<ActiveRequest>> still, started;
  bool any_auto = false;
  for (size_t i = 0; i < active.size(); ++i) {
    ActiveRequest& a = *active[i];
    auto failed = failure_of(a.ticket(), [&] {
      if (plan.prefill[i]) {
        a.run().finish_prefill_chunk(plan.first_row[i] < 0 ? nullptr
                                                           : logits.data() + size_t(plan.first_row[i]) * vocab);
        if (!a.run().prefilling()) prompt_reuse_.after_prefill(a);
        if (a.ready_to_fork())  // its prompt is in: the other samples start from its cache
          for (auto& sample : a.fork()) started.push_back(std::move(sample));
        return;
      }
      const SpeculationStats before = a.run().stats();
      const int depth = a.run().pass_depth();
      a.run().finish_pass(logits.data() + size_t(plan.first_row[i]) * vocab);
      const SpeculationStats& after = a.run().stats();
      metrics().pass(mode_name(a.mode()), depth, after.drafted - before.drafted, after.accepted - before.accepted);
      if (const std::string& choice = a.auto_choice(); !choice.empty()) {
        metrics().auto_passes(choice).Increment();
        any_auto = true;
      }
    });
    if (failed)
      conclude(a, *failed);
    else if (a.run().finished())
      conclude(a, a.final_message());
    else
      still.push_back(std::move(active[i]));
  }
  for (auto& sample : started) still.push_back(std::move(sample));
  active.swap(still);
  if (any_auto) publish_pass_times();
}

}  // namespace tandem
