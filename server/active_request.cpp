#include "server/active_request.h"

#include "model/chat_template.h"
#include "proto/tree_wire.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::vector<int32_t> prompt_ids(const wire::SubmitRequest& r, const Tokenizer& tok) {
  std::vector<int32_t> ids;
  if (r.has_ids()) {
    ids.assign(r.ids().ids().begin(), r.ids().ids().end());
    for (int32_t id : ids)
      if (id < 0 || id >= tok.vocab_size())
        throw std::invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " +
                                    std::to_string(tok.vocab_size()));
  } else {
    std::string text = r.text();
    const bool chat = r.chat() || r.messages_size() > 0;
    if (chat) try {
        std::vector<ChatMessage> turns;
        for (const wire::ChatTurn& t : r.messages()) turns.push_back({t.role(), t.content()});
        text = turns.empty() ? chat_prompt(tok, r.text()) : chat_conversation(tok, turns);
      } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what());  // a base model: the request asked for what it cannot have
      }
    ids = tok.encode(text, tok.add_bos(), chat);
  }
  if (ids.empty()) throw std::invalid_argument("the prompt is empty");
  return ids;
}

std::string client_group(const std::string& client) {
  // "http:WHO:N" and "zmq:WHO:ROUTING": WHO (an API or CURVE key's name, or an address) is the
  // client; "zmq:ROUTING" (no address known) is one connection.
  const size_t first = client.find(':'), last = client.rfind(':');
  if (first == std::string::npos || first == last) return client;
  return client.substr(0, last);
}

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

void check_alive(const RequestTicket& t) {
  if (t.cancelled) throw RequestAborted{wire::CANCELLED, "cancelled"};
  const int64_t heartbeat = t.request.heartbeat_ms();
  if (heartbeat > 0 && steady_now_ms() - t.last_heard_ms > 3 * heartbeat)
    throw RequestAborted{wire::CANCELLED, "the client went silent for " + std::to_string(3 * heartbeat) + " ms"};
  if (Clock::now() > t.deadline)
    throw RequestAborted{wire::DEADLINE_EXCEEDED,
                         "deadline of " + std::to_string(t.request.deadline_ms()) + " ms passed"};
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
      settings_(serving.defaults),
      decoder_(models.target->model().tokenizer()),
      stop_matcher_({ticket_->request.stop().begin(), ticket_->request.stop().end()}),
      started_(Clock::now()) {
  const wire::SubmitRequest& r = ticket_->request;
  check_stop_sequences({r.stop().begin(), r.stop().end()});
  if (!r.mode().empty()) settings_.mode = parse_mode(r.mode());
  check_mode_settings(settings_);
  options_.max_context = serving.max_context;
  options_.kv_remote = serving.kv_remote;
  options_.max_tokens = r.max_tokens() > 0 ? r.max_tokens() : serving.default_max_tokens;
  if (r.max_tokens() < 0 || options_.max_tokens > serving.max_tokens_limit)
    throw std::invalid_argument("max_tokens must be between 0 and " + std::to_string(serving.max_tokens_limit));
  const uint32_t n = std::max(r.n(), 1u);
  if (n > uint32_t(serving.max_batch))
    throw std::invalid_argument("n must be between 1 and " + std::to_string(serving.max_batch) +
                                ", this server's batch size");
  if (n > 1 && !group_) group_ = std::make_shared<SampleGroup>(n, r.first_finish());
  options_.sampling = sampling_from_wire(r.sampling());
  options_.sampling.seed = sample_seed(options_.sampling.seed, index_);
  const Model& target = models.target->model();
  const Mode mode = settings_.mode;
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
    drafter_ = make_drafter(settings_, models.draft, options_.max_context);
  drafts_locally_ = !remote && mode != Mode::pearl;
  drafts_ahead_ = !remote && mode == Mode::pearl;
  run_ = std::make_unique<SpeculativeRun>(
      target, drafter_.get(), ticket_->prompt_ids, options_,
      mode_speculation(settings_, target, models.draft ? &models.draft->model() : nullptr),
      [this](int32_t id) { on_token(id); });
  shares_prompt_ = group_ && !run_->cache().remote();  // a cache on KV shards keeps its prompt there
  if (index_ > 0 && group_->prompt) run_->adopt_prompt(group_->prompt);
}

std::vector<std::unique_ptr<ActiveRequest>> ActiveRequest::fork() {
  forked_ = true;
  if (shares_prompt_) group_->prompt = run_->share_prompt();
  std::vector<std::unique_ptr<ActiveRequest>> samples;
  for (uint32_t i = 1; i < group_->size(); ++i)
    samples.push_back(std::unique_ptr<ActiveRequest>(new ActiveRequest(ticket_, models_, serving_, sink_, i, group_)));
  return samples;
}

void ActiveRequest::on_token(int32_t id) {
  check_alive(*ticket_);
  deliver(stop_matcher_.push(id, decoder_.push(id)));
  if (stop_matcher_.stopped()) throw StopGeneration{};
}

void ActiveRequest::deliver(const StopMatcher::Released& released) {
  ids_.insert(ids_.end(), released.ids.begin(), released.ids.end());
  text_ += released.text;
  if (!ticket_->request.stream() || (released.ids.empty() && released.text.empty())) return;
  wire::ServerMessage chunk;
  chunk.mutable_chunk()->set_request_id(ticket_->request.request_id());
  for (int32_t id : released.ids) chunk.mutable_chunk()->add_ids(id);
  chunk.mutable_chunk()->set_text(released.text);
  chunk.mutable_chunk()->set_index(index_);
  sink_(ticket_->client, chunk);
}

wire::ServerMessage ActiveRequest::final_message() {
  const GenerationResult result = run_->result();
  const SpeculationStats& spec = run_->stats();
  deliver(stop_matcher_.flush(decoder_.flush()));
  wire::ServerMessage m;
  wire::FinalResult* f = m.mutable_final();
  f->set_request_id(ticket_->request.request_id());
  for (int32_t id : ids_) f->add_ids(id);
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
  st->set_mode(mode_name(settings_.mode));
  st->set_kv_cache_bytes(int64_t(run_->cache().bytes_allocated()));
  return m;
}

}  // namespace tandem
