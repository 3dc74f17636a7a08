#include "server/http_gateway.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "observability/log.h"
#include "server/client_id.h"
#include "server/openai_logprobs.h"
#include "server/openai_request.h"
#include "server/ops_http.h"

namespace tandem {
namespace {

using nlohmann::json;

std::atomic<uint64_t> next_id{1};

int http_status(wire::ErrorCode code) {
  switch (code) {
    case wire::INVALID_ARGUMENT:
    case wire::MALFORMED: return 400;
    case wire::OVERLOADED: return 429;
    case wire::DEADLINE_EXCEEDED: return 504;
    case wire::CANCELLED: return 499;
    default: return 500;
  }
}

// JSON text; bytes that are not UTF-8 (from a prompt, say) become U+FFFD instead of throwing.
std::string text_of(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage(const wire::Statistics& s) {
  return {{"prompt_tokens", s.prompt_tokens()},
          {"completion_tokens", s.generated_tokens()},
          {"total_tokens", s.prompt_tokens() + s.generated_tokens()},
          {"prompt_tokens_details", {{"cached_tokens", s.cached_tokens()}}}};
}

json speculation(const wire::Statistics& s) {
  return {{"mode", s.mode()},
          {"verifier_passes", s.verifier_passes()},
          {"tokens_per_pass", s.tokens_per_pass()},
          {"acceptance_rate", s.acceptance_rate()},
          {"decode_seconds", s.decode_seconds()},
          {"kv_cache_bytes", s.kv_cache_bytes()}};
}

json choice(bool chat, uint32_t index, const std::string& text, const json& finish, bool delta,
            const json& logprobs = nullptr) {
  json c = {{"index", index}, {"finish_reason", finish}, {"logprobs", logprobs}};
  if (!chat)
    c["text"] = text;
  else if (delta)
    c["delta"] = {{"content", text}};
  else
    c["message"] = {{"role", "assistant"}, {"content", text}};
  return c;
}

}  // namespace

HttpGateway::HttpGateway(const std::string& host, int port, RequestBackend& worker, const Model& model,
                         HttpLimits limits)
    : worker_(worker), model_(model), pool_(std::make_unique<boost::asio::thread_pool>(2)) {
  http_ = std::make_unique<HttpServer>(host, port, std::move(limits), routes());
}

HttpGateway::~HttpGateway() {
  // No handler runs once the server has stopped, so nothing new reaches the pool; what the pool
  // and pending_ hold is let go while the server's event loop still exists to drop it.
  http_->stop();
  pool_->join();
  std::map<std::string, Pending> pending;
  {
    std::lock_guard lock(pending_mutex_);
    pending.swap(pending_);
  }
  pending.clear();
  http_.reset();
}

void HttpGateway::refuse_new() {
  std::lock_guard lock(submit_mutex_);
  closing_ = true;
}

bool HttpGateway::owns(const std::string& client) { return client_door(client) == "http"; }

void HttpGateway::add_health(std::function<nlohmann::json()> more) {
  std::lock_guard lock(health_mutex_);
  more_health_ = std::move(more);
}

std::vector<HttpRoute> HttpGateway::routes() {
  std::vector<HttpRoute> routes =
      ops_routes({[this] {
                    json health{{"live_requests", worker_.live_requests()},
                                {"kv_cache_bytes", worker_.kv_cache_bytes()},
                                {"verifiers", worker_.verifiers()},
                                {"drafters", worker_.drafters()},
                                {"shards", worker_.shards()}};
                    std::lock_guard lock(health_mutex_);
                    if (more_health_) health.update(more_health_());
                    return health;
                  },
                  [this] {
                    std::lock_guard lock(submit_mutex_);
                    return !closing_ && worker_.verifiers() > 0;  // someone can take requests
                  }});
  routes.push_back(
      {.method = "GET",
       .path = "/v1/models",
       .handler = [name = model_.config().name](std::shared_ptr<HttpExchange> exchange) {
         json body = {{"object", "list"}, {"data", {{{"id", name}, {"object", "model"}, {"owned_by", "tandem"}}}}};
         exchange->reply(200, body.dump());
       }});
  for (const bool chat : {false, true})
    routes.push_back({.method = "POST",
                      .path = chat ? "/v1/chat/completions" : "/v1/completions",
                      .takes_body = true,
                      .handler = [this, chat](std::shared_ptr<HttpExchange> exchange) {
                        boost::asio::post(*pool_, [this, chat, exchange] { complete(exchange, chat); });
                      }});
  return routes;
}

void HttpGateway::complete(const std::shared_ptr<HttpExchange>& exchange, bool chat) {
  const HttpRequest& req = exchange->request();
  wire::SubmitRequest submit;
  try {
    submit = openai_submit(parse_body(req.body), chat);
  } catch (const std::exception& e) {
    log_event(LogLevel::info, "http_refused",
              {{"status", 400}, {"path", req.path}, {"peer", req.peer}, {"reason", e.what()}});
    exchange->reply(400, http_error_body(e.what(), "invalid_request_error"));
    return;
  }
  // Its API key's name, else its address, names the client in the logs and in the fair
  // share of the queue (server/client_id.h).
  const std::string number = std::to_string(next_id++);
  const std::string client = format_client({"http", req.key_name.empty() ? req.peer : req.key_name, number});
  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + number;
  submit.set_request_id(id);
  {
    std::lock_guard lock(pending_mutex_);
    pending_[client] =
        Pending{exchange, id, chat, submit.stream(), false, long(std::time(nullptr)), submit.logprobs(), {}};
  }
  // A client that leaves stops its request and frees its cache.
  exchange->on_close([this, client, id] {
    {
      std::lock_guard lock(pending_mutex_);
      if (!pending_.erase(client)) return;  // answered already
    }
    worker_.cancel(client, id);
  });
  std::lock_guard lock(submit_mutex_);
  if (closing_) {
    {
      std::lock_guard pending_lock(pending_mutex_);
      pending_.erase(client);
    }
    exchange->reply(503, http_error_body("the server is shutting down", "unavailable"));
    return;
  }
  worker_.submit(client, submit);
}

void HttpGateway::deliver(const std::string& client, const wire::ServerMessage& message) {
  std::lock_guard lock(pending_mutex_);
  auto it = pending_.find(client);
  if (it == pending_.end()) return;  // the HTTP client has gone
  if (answer(it->second, message)) pending_.erase(it);
}

json HttpGateway::logprobs_json(Pending& p, uint32_t index, const WireLogprobs& logprobs) const {
  if (!p.logprobs) return nullptr;
  if (p.chat) return chat_logprobs(model_.tokenizer(), logprobs);
  return completion_logprobs(model_.tokenizer(), logprobs, p.offsets[index]);
}

bool HttpGateway::answer(Pending& p, const wire::ServerMessage& m) {
  const std::string name = model_.config().name;
  HttpExchange& exchange = *p.exchange;
  if (m.has_error() && !p.streaming) {  // nothing sent yet: the error gets its HTTP status
    exchange.reply(http_status(m.error().code()),
                   http_error_body(m.error().message(), wire::ErrorCode_Name(m.error().code())));
    return true;
  }
  if (!p.stream) {
    if (!m.has_final()) return false;
    const wire::FinalResult& f = m.final();
    json choices = json::array();
    if (f.choices().empty())
      choices.push_back(choice(p.chat, 0, f.text(), f.finish_reason(), false, logprobs_json(p, 0, f.logprobs())));
    for (const wire::Choice& c : f.choices())
      choices.push_back(
          choice(p.chat, c.index(), c.text(), c.finish_reason(), false, logprobs_json(p, c.index(), c.logprobs())));
    json body = {{"id", p.id},
                 {"object", p.chat ? "chat.completion" : "text_completion"},
                 {"created", p.created},
                 {"model", name},
                 {"choices", choices},
                 {"usage", usage(f.stats())},
                 {"tandem", speculation(f.stats())}};
    exchange.reply(200, text_of(body));
    return true;
  }

  // Streaming: one server-sent event per token, then the finish reason, then [DONE].
  if (!p.streaming) exchange.start_stream("text/event-stream");
  p.streaming = true;
  json event = {{"id", p.id},
                {"object", p.chat ? "chat.completion.chunk" : "text_completion"},
                {"created", p.created},
                {"model", name}};
  bool end = false;
  if (m.has_chunk()) {
    event["choices"] = {choice(p.chat, m.chunk().index(), m.chunk().text(), nullptr, true,
                               logprobs_json(p, m.chunk().index(), m.chunk().logprobs()))};
  } else if (m.has_final()) {
    const wire::FinalResult& f = m.final();
    event["choices"] = json::array();
    if (f.choices().empty()) event["choices"].push_back(choice(p.chat, 0, "", f.finish_reason(), true));
    for (const wire::Choice& c : f.choices())
      event["choices"].push_back(choice(p.chat, c.index(), "", c.finish_reason(), true));
    event["usage"] = usage(f.stats());
    event["tandem"] = speculation(f.stats());
    end = true;
  } else {
    event = http_error_json(m.error().message(), wire::ErrorCode_Name(m.error().code()));
    end = true;
  }
  std::string data = "data: " + text_of(event) + "\n\n";
  if (end) data += "data: [DONE]\n\n";
  exchange.stream(data);
  if (end) exchange.end_stream();
  return end;
}

}  // namespace tandem
