#include "server/request_worker.h"

#include "model/chat_template.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Thrown from the token callback to stop a request that was cancelled or ran out of time.
struct Aborted {
  wire::ErrorCode code;
  std::string message;
};

// The request's prompt as token ids; throws std::invalid_argument for a bad one.
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
    if (r.chat()) try {
        text = chat_prompt(tok, r.text());
      } catch (const std::runtime_error& e) {
        throw std::invalid_argument(e.what());  // a base model: the request asked for what it cannot have
      }
    ids = tok.encode(text, tok.add_bos(), r.chat());
  }
  if (ids.empty()) throw std::invalid_argument("the prompt is empty");
  return ids;
}

}  // namespace

RequestWorker::RequestWorker(ServingModels models, ServingOptions options, Sink sink)
    : models_(models), options_(std::move(options)), sink_(std::move(sink)), thread_([this] { loop(); }) {}

RequestWorker::~RequestWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto& [key, job] : live_) job->cancelled = true;
  }
  wake_.notify_all();
  thread_.join();
}

size_t RequestWorker::live_requests() const {
  std::lock_guard lock(mutex_);
  return live_.size();
}

void RequestWorker::reply_error(const Job& job, int code, const std::string& message) {
  wire::ServerMessage m;
  m.mutable_error()->set_request_id(job.request.request_id());
  m.mutable_error()->set_code(wire::ErrorCode(code));
  m.mutable_error()->set_message(message);
  sink_(job.client, m);
}

void RequestWorker::submit(const std::string& client, const wire::SubmitRequest& request) {
  auto job = std::make_shared<Job>();
  job->client = client;
  job->request = request;
  job->received = Clock::now();
  job->deadline = request.deadline_ms() > 0 ? job->received + std::chrono::milliseconds(request.deadline_ms())
                                            : Clock::time_point::max();
  {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(client, request.request_id());
    if (live_.count(key)) {
      reply_error(*job, wire::INVALID_ARGUMENT, "request id '" + request.request_id() + "' is already in use");
      return;
    }
    if (live_.size() >= options_.queue_limit) {
      reply_error(*job, wire::OVERLOADED,
                  "the server holds its limit of " + std::to_string(options_.queue_limit) + " requests");
      return;
    }
    live_[key] = job;
    queue_.push_back(job);
  }
  wake_.notify_all();
}

void RequestWorker::cancel(const std::string& client, const std::string& request_id) {
  std::lock_guard lock(mutex_);
  auto it = live_.find({client, request_id});
  if (it != live_.end()) it->second->cancelled = true;
}

void RequestWorker::loop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        // Every request ends exactly once: the waiting ones hear why.
        for (auto& waiting : queue_) reply_error(*waiting, wire::CANCELLED, "the server is shutting down");
        queue_.clear();
        live_.clear();
        return;
      }
      job = queue_.front();
      queue_.pop_front();
    }
    try {
      run(*job);
    } catch (const Aborted& a) { reply_error(*job, a.code, a.message); } catch (const std::invalid_argument& e) {
      reply_error(*job, wire::INVALID_ARGUMENT, e.what());
    } catch (const std::exception& e) { reply_error(*job, wire::INTERNAL, e.what()); }
    std::lock_guard lock(mutex_);
    live_.erase({job->client, job->request.request_id()});
  }
}

void RequestWorker::run(Job& job) {
  const wire::SubmitRequest& r = job.request;
  auto check_alive = [&] {
    if (job.cancelled) throw Aborted{wire::CANCELLED, "cancelled"};
    if (Clock::now() > job.deadline)
      throw Aborted{wire::DEADLINE_EXCEEDED, "deadline of " + std::to_string(r.deadline_ms()) + " ms passed"};
  };
  check_alive();
  const auto started = Clock::now();
  const Model& model = models_.target->model();
  const Tokenizer& tok = model.tokenizer();

  ModeSettings settings = options_.defaults;
  if (!r.mode().empty()) settings.mode = r.mode();
  check_mode_settings(settings);
  GenerationOptions options;
  options.max_context = options_.max_context;
  options.max_tokens = r.max_tokens() > 0 ? r.max_tokens() : options_.default_max_tokens;
  if (r.max_tokens() < 0 || options.max_tokens > options_.max_tokens_limit)
    throw std::invalid_argument("max_tokens must be between 0 and " + std::to_string(options_.max_tokens_limit));
  const wire::Sampling& s = r.sampling();
  if (!(s.temperature() >= 0.0f) || s.top_k() < 0 || !(s.top_p() >= 0.0f && s.top_p() <= 1.0f))
    throw std::invalid_argument("sampling needs temperature >= 0, top_k >= 0 and top_p in [0, 1]");
  options.sampling = {s.temperature(), s.top_k(), s.top_p() > 0.0f ? s.top_p() : 1.0f, s.seed()};
  std::vector<int32_t> ids = prompt_ids(r, tok);

  Transformer* target = models_.target;
  Transformer* draft = models_.draft;
  if (settings.mode == "pearl") {
    target = models_.pearl_target;
    draft = models_.pearl_draft;
  }
  if (needs_draft_model(settings.mode) && !draft)
    throw std::invalid_argument("mode " + settings.mode + " needs a draft model, and this server has none");

  StreamDecoder decoder(tok);
  std::string text;
  wire::ServerMessage chunk;
  chunk.mutable_chunk()->set_request_id(r.request_id());
  auto on_token = [&](int32_t id) {
    check_alive();
    std::string piece = decoder.push(id);
    text += piece;
    if (!r.stream()) return;
    chunk.mutable_chunk()->clear_ids();
    chunk.mutable_chunk()->add_ids(id);
    chunk.mutable_chunk()->set_text(piece);
    sink_(job.client, chunk);
  };
  SpeculationStats spec;
  GenerationResult result = generate_in_mode(settings, *target, draft, ids, options, spec, on_token);
  text += decoder.flush();

  wire::ServerMessage m;
  wire::FinalResult* f = m.mutable_final();
  f->set_request_id(r.request_id());
  for (int32_t id : result.ids) f->add_ids(id);
  f->set_text(text);
  f->set_finish_reason(finish_reason_name(result.finish));
  wire::Statistics* st = f->mutable_stats();
  st->set_prompt_tokens(int32_t(ids.size()));
  st->set_generated_tokens(int32_t(result.ids.size()));
  st->set_queue_seconds(seconds_between(job.received, started));
  st->set_prefill_seconds(result.prefill_seconds);
  st->set_decode_seconds(result.decode_seconds);
  st->set_verifier_passes(spec.passes);
  st->set_drafted_tokens(spec.drafted);
  st->set_accepted_tokens(spec.accepted);
  st->set_tokens_per_pass(spec.tokens_per_pass());
  st->set_acceptance_rate(spec.acceptance_rate());
  st->set_drafter_idle_seconds(spec.drafter_idle_seconds);
  st->set_verifier_idle_seconds(spec.verifier_idle_seconds);
  st->set_mode(settings.mode);
  sink_(job.client, m);
}

}  // namespace tandem
