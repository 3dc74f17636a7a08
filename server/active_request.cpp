#include "server/active_request.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

void check_alive(const RequestTicket& t) {
  if (t.cancelled) throw RequestAborted{wire::CANCELLED, "cancelled"};
  const int64_t heartbeat = t.spec.heartbeat_ms;
  if (heartbeat > 0 && steady_now_ms() - t.last_heard_ms > 3 * heartbeat)
    throw RequestAborted{wire::CANCELLED, "the client went silent for " + std::to_string(3 * heartbeat) + " ms"};
  if (Clock::now() > t.deadline)
    throw RequestAborted{wire::DEADLINE_EXCEEDED, "deadline of " + std::to_string(t.spec.deadline_ms) + " ms passed"};
}

ActiveRequest::ActiveRequest(std::shared_ptr<RequestTicket> ticket, const ServingModels& models,
                             const ServingOptions& serving, ReplySink sink)
    : ActiveRequest(std::move(ticket), models, serving, std::move(sink), 0, nullptr) {}

ActiveRequest::ActiveRequest(std::shared_ptr<RequestTicket> ticket, const ServingModels& models,
                             const ServingOptions& serving, ReplySink sink, uint32_t index,
                             std::shared_ptr<SampleGroup> group)
    : ticket_(std::move(ticket)),
      models_(models),
      serving_(serving),
      index_(index),
      group_(std::move(group)),
      sink_(std::move(sink)),
      options_(ticket_->spec.generation),
      decoder_(models.target->model().tokenizer()),
      stop_matcher_(ticket_->spec.stop),
      started_(Clock::now()) {
  const RequestSpec& spec = ticket_->spec;
  if (spec.samples > 1 && !group_) group_ = std::make_shared<SampleGroup>(spec.samples, spec.first_finish);
  options_.sampling.seed = sample_seed(options_.sampling.seed, index_);
  const Model& target = models.target->model();
  const Mode mode = spec.mode.mode;
  const bool remote = models.remote_drafter && needs_draft_model(mode);
  const bool local = mode == Mode::pearl ? models.pearl_drafting != nullptr : models.draft != nullptr;
  if (needs_draft_model(mode) && !local && !remote)
    throw std::invalid_argument(std::string("mode ") + mode_name(mode) +
                                " needs a draft model, and this server has none");

  // The same drafter and depth settings as generate_in_mode, one drafter per request;
  // PEARL's drafts come from the drafting thread (or the drafter process), drafted ahead.
  static std::atomic<uint64_t> next_remote_id{1};
  if (remote)
    drafter_ = std::make_unique<RemoteDrafter>(*models.remote_drafter, next_remote_id++);
  else if (mode == Mode::pearl)
    drafter_ = models.pearl_drafting->drafter();
  else
    drafter_ = make_drafter(spec.mode, models.draft, options_.max_context,
                            {&target, models.pass_rows, options_.sampling.temperature > 0});
  auto_drafter_ = dynamic_cast<const AutoDrafter*>(drafter_.get());
  drafts_locally_ = !remote && mode != Mode::pearl;
  drafts_ahead_ = !remote && mode == Mode::pearl;
  run_ = std::make_unique<SpeculativeRun>(target, drafter_.get(), ticket_->prompt_ids, options_,
                                          mode_speculation(spec.mode, target, models.draft),
                                          [this](int32_t id) { on_token(id); });
  shares_prompt_ = group_ && !run_->cache().remote();  // a cache on KV shards keeps its prompt there
  if (index_ > 0 && group_->prompt) run_->adopt_prompt(group_->prompt);
}

const std::string& ActiveRequest::auto_choice() const {
  static const std::string not_auto;
  if (mode() != Mode::automatic) return not_auto;
  return auto_drafter_ ? auto_drafter_->latest_choice() : kNoDraftChoice;
}

std::vector<std::unique_ptr<ActiveRequest>> ActiveRequest::fork() {
  forked_ = true;
  if (shares_prompt_) group_->prompt = run_->share_prompt();
  std::vector<std::unique_ptr<ActiveRequest>> samples;
  for (uint32_t i = 1; i < group_->size(); ++i)
    samples.push_back(std::unique_ptr<ActiveRequest>(new ActiveRequest(ticket_, models_, serving_, sink_, i, group_)));
  return samples;
}

namespace {

wire::TokenLogprob to_wire(const TokenLogprobs& l) {
  wire::TokenLogprob w;
  w.set_id(l.id);
  w.set_logprob(float(l.logprob));
  for (const auto& [id, logprob] : l.top) {
    wire::TopLogprob* t = w.add_top();
    t->set_id(id);
    t->set_logprob(float(logprob));
  }
  return w;
}

}  // namespace

void ActiveRequest::on_token(int32_t id) {
  check_alive(*ticket_);
  if (options_.logprobs >= 0) held_logprobs_.push_back(to_wire(run_->latest_logprobs()));
  deliver(stop_matcher_.push(id, decoder_.push(id)));
  if (stop_matcher_.stopped()) throw StopGeneration{};
}

void ActiveRequest::deliver(const StopMatcher::Released& released) {
  ids_.insert(ids_.end(), released.ids.begin(), released.ids.end());
  text_ += released.text;
  // Released ids are the oldest held ones, in order: their log probabilities go with them.
  const size_t first_logprob = logprobs_.size();
  for (size_t i = 0; i < released.ids.size() && !held_logprobs_.empty(); ++i) {
    logprobs_.push_back(std::move(held_logprobs_.front()));
    held_logprobs_.pop_front();
  }
  if (!ticket_->spec.stream || (released.ids.empty() && released.text.empty())) return;
  wire::ServerMessage chunk;
  chunk.mutable_chunk()->set_request_id(ticket_->spec.id);
  for (size_t i = first_logprob; i < logprobs_.size(); ++i) *chunk.mutable_chunk()->add_logprobs() = logprobs_[i];
  for (int32_t id : released.ids) chunk.mutable_chunk()->add_ids(id);
  chunk.mutable_chunk()->set_text(released.text);
  chunk.mutable_chunk()->set_index(index_);
  sink_(ticket_->spec.client, chunk);
}

wire::ServerMessage ActiveRequest::final_message() {
  const GenerationResult result = run_->result();
  const SpeculationStats& spec = run_->stats();
  deliver(stop_matcher_.flush(decoder_.flush()));
  wire::ServerMessage m;
  wire::FinalResult* f = m.mutable_final();
  f->set_request_id(ticket_->spec.id);
  for (int32_t id : ids_) f->add_ids(id);
  for (const wire::TokenLogprob& l : logprobs_) *f->add_logprobs() = l;
  f->set_text(text_);
  f->set_finish_reason(finish_reason_name(result.finish));
  wire::Statistics* st = f->mutable_stats();
  st->set_prompt_tokens(int32_t(ticket_->prompt_ids.size()));
  st->set_generated_tokens(int32_t(ids_.size()));
  st->set_queue_seconds(std::chrono::duration<double>(started_ - ticket_->received).count());
  st->set_prefill_seconds(result.prefill_seconds);
  st->set_decode_seconds(result.decode_seconds);
  st->set_verifier_passes(spec.passes);
  st->set_drafted_tokens(spec.drafted);
  st->set_accepted_tokens(spec.accepted);
  st->set_tokens_per_pass(spec.tokens_per_pass());
  st->set_acceptance_rate(spec.acceptance_rate());
  st->set_drafter_idle_seconds(spec.drafter_idle_seconds);
  st->set_verifier_idle_seconds(spec.verifier_idle_seconds);
  st->set_mode(mode_name(mode()));
  // Its own rows, and sample 0 counts the prompt it shares with the others (or with the
  // prefix cache) once for the request.
  const KvCache& cache = run_->cache();
  const KvCache* prompt = cache.shared_prefix();
  st->set_kv_cache_bytes(int64_t(cache.bytes_allocated() + (prompt && index_ == 0 ? prompt->bytes_allocated() : 0)));
  st->set_cached_tokens(int32_t(run_->cached_positions()));
  return m;
}

}  // namespace tandem
