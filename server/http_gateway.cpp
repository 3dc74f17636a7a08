#include "server/http_gateway.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "cluster/log.h"
#include "server/connection_watch.h"
#include "server/openai_request.h"
#include "server/ops_http.h"

namespace tandem {
namespace {

using nlohmann::json;
constexpr const char* kClientPrefix = "http:";
constexpr auto kWaitSlice = std::chrono::milliseconds(200);  // how often a waiting handler checks its client

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

json error_json(const std::string& message, const std::string& type) {
  return {{"error", {{"message", message}, {"type", type}}}};
}

std::string error_body(const std::string& message, const std::string& type) {
  return text_of(error_json(message, type));
}

json usage(const wire::Statistics& s) {
  return {{"prompt_tokens", s.prompt_tokens()},
          {"completion_tokens", s.generated_tokens()},
          {"total_tokens", s.prompt_tokens() + s.generated_tokens()}};
}

json speculation(const wire::Statistics& s) {
  return {{"mode", s.mode()},
          {"verifier_passes", s.verifier_passes()},
          {"tokens_per_pass", s.tokens_per_pass()},
          {"acceptance_rate", s.acceptance_rate()},
          {"decode_seconds", s.decode_seconds()},
          {"kv_cache_bytes", s.kv_cache_bytes()}};
}

// Whether a and b are equal, in a time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The name of the API key the request carries, if it is one of `keys`.
std::optional<std::string> api_key_name(const httplib::Request& req, const std::map<std::string, std::string>& keys) {
  const std::string header = req.get_header_value("Authorization"), scheme = "Bearer ";
  if (header.rfind(scheme, 0) != 0) return std::nullopt;
  const std::string given = header.substr(scheme.size());
  std::optional<std::string> name;
  for (const auto& [key, key_name] : keys)  // every key compared, so the time says nothing either
    if (same_secret(given, key)) name = key_name;
  return name;
}

// An HTTPS server when the limits name a certificate, else plain HTTP. std::invalid_argument if the files do not load.
std::unique_ptr<httplib::Server> new_server(const HttpLimits& limits) {
  if (limits.tls_cert_file.empty() && limits.tls_key_file.empty()) return std::make_unique<httplib::Server>();
  if (limits.tls_cert_file.empty() || limits.tls_key_file.empty())
    throw std::invalid_argument("an HTTPS certificate needs its key, and a key its certificate");
  auto server = std::make_unique<httplib::SSLServer>(limits.tls_cert_file.c_str(), limits.tls_key_file.c_str());
  if (!server->is_valid())
    throw std::invalid_argument(limits.tls_cert_file + " and " + limits.tls_key_file +
                                ": not a PEM certificate and its private key");
  return server;
}

}  // namespace

HttpGateway::HttpGateway(const std::string& host, int port, RequestBackend& worker, const Model& model,
                         HttpLimits limits)
    : worker_(worker),
      model_(model),
      api_keys_(limits.api_keys),
      http_(new_server(limits)),
      tls_(!limits.tls_cert_file.empty()) {
  // Every connection holds a pool thread while it is open, idle or not: enough threads that
  // idle and slow clients leave some for /health and the others, and timeouts that end them.
  http_->new_task_queue = [threads = limits.threads] { return new httplib::ThreadPool(size_t(std::max(2, threads))); };
  http_->set_read_timeout(limits.read_timeout_s, 0);
  http_->set_write_timeout(limits.read_timeout_s, 0);
  http_->set_keep_alive_timeout(5);
  http_->set_payload_max_length(limits.max_body_bytes);
  if (!limits.api_keys.empty())
    http_->set_pre_routing_handler([keys = limits.api_keys](const httplib::Request& req, httplib::Response& res) {
      if (req.path.rfind("/v1/", 0) != 0 || api_key_name(req, keys)) return httplib::Server::HandlerResponse::Unhandled;
      log_event(LogLevel::warn, "http_refused",
                {{"status", 401}, {"path", req.path}, {"peer", req.remote_addr}, {"reason", "no valid API key"}});
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(error_body("a valid API key is required (Authorization: Bearer KEY)", "invalid_request_error"),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
  // httplib's own refusals (413, 404, ...) get an OpenAI-style error body.
  http_->set_error_handler(httplib::Server::HandlerWithResponse([max = limits.max_body_bytes](
                                                                    const httplib::Request& req,
                                                                    httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    log_event(LogLevel::info, "http_refused", {{"status", res.status}, {"path", req.path}, {"peer", req.remote_addr}});
    const std::string message = res.status == 413 ? "the body is larger than " + std::to_string(max) + " bytes"
                                                  : "HTTP status " + std::to_string(res.status);
    res.set_content(error_body(message, "invalid_request_error"), "application/json");
    return httplib::Server::HandlerResponse::Handled;
  }));
  // What went wrong inside stays in the log, never in the answer.
  http_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& what) {
      log_event(LogLevel::error, "http_internal_error", {{"path", req.path}, {"error", what.what()}});
    } catch (...) {
      log_event(LogLevel::error, "http_internal_error", {{"path", req.path}, {"error", "unknown exception"}});
    }
    res.status = 500;
    res.set_content(error_body("internal error", "server_error"), "application/json");
  });
  routes();
  port_ = bind_http(*http_, host, port);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

HttpGateway::~HttpGateway() {
  http_->stop();
  thread_.join();
}

void HttpGateway::refuse_new() {
  std::lock_guard lock(submit_mutex_);
  closing_ = true;
}

bool HttpGateway::owns(const std::string& client) { return client.rfind(kClientPrefix, 0) == 0; }

void HttpGateway::deliver(const std::string& client, const wire::ServerMessage& message) {
  std::shared_ptr<Mailbox> box;
  {
    std::lock_guard lock(mailboxes_mutex_);
    auto it = mailboxes_.find(client);
    if (it == mailboxes_.end()) return;  // the HTTP client has gone
    box = it->second;
  }
  std::lock_guard lock(box->mutex);
  box->messages.push_back(message);
  box->ready.notify_all();
}

std::shared_ptr<HttpGateway::Mailbox> HttpGateway::open_mailbox(const std::string& client) {
  std::lock_guard lock(mailboxes_mutex_);
  return mailboxes_[client] = std::make_shared<Mailbox>();
}

void HttpGateway::close_mailbox(const std::string& client) {
  std::lock_guard lock(mailboxes_mutex_);
  mailboxes_.erase(client);
}

void HttpGateway::add_health(std::function<nlohmann::json()> more) {
  std::lock_guard lock(health_mutex_);
  more_health_ = std::move(more);
}

void HttpGateway::routes() {
  const std::string name = model_.config().name;
  add_ops_routes(*http_, {[this] {
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
                            return !closing_ && worker_.verifiers() > 0;  // ready: someone can take requests
                          }});
  http_->Get("/v1/models", [name](const httplib::Request&, httplib::Response& res) {
    json body = {{"object", "list"}, {"data", {{{"id", name}, {"object", "model"}, {"owned_by", "tandem"}}}}};
    res.set_content(body.dump(), "application/json");
  });

  auto handle = [this, name](const httplib::Request& req, httplib::Response& res, bool chat) {
    wire::SubmitRequest submit;
    try {
      submit = openai_submit(parse_body(req.body), chat);
    } catch (const std::exception& e) {
      log_event(LogLevel::info, "http_refused",
                {{"status", 400}, {"path", req.path}, {"peer", req.remote_addr}, {"reason", e.what()}});
      res.status = 400;
      res.set_content(error_body(e.what(), "invalid_request_error"), "application/json");
      return;
    }
    // "http:WHO:N": WHO (its API key's name, else its address) names the client in the
    // logs and in the fair share of the queue (client_group).
    const std::string number = std::to_string(next_id++);
    const std::optional<std::string> key = api_key_name(req, api_keys_);
    const std::string client = kClientPrefix + (key ? *key : req.remote_addr) + ":" + number;
    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + number;
    submit.set_request_id(id);
    auto box = open_mailbox(client);
    {
      std::lock_guard lock(submit_mutex_);
      if (closing_) {
        close_mailbox(client);
        res.status = 503;
        res.set_content(error_body("the server is shutting down", "unavailable"), "application/json");
        return;
      }
      worker_.submit(client, submit);
    }
    const long created = long(std::time(nullptr));
    const std::string object = chat ? "chat.completion" : "text_completion";
    // The next reply, or nothing if `alive` says the client left while waiting.
    auto next = [box](const std::function<bool()>& alive) -> std::optional<wire::ServerMessage> {
      std::unique_lock lock(box->mutex);
      while (box->messages.empty())
        if (!box->ready.wait_for(lock, kWaitSlice, [&] { return !box->messages.empty(); }) && !alive())
          return std::nullopt;
      wire::ServerMessage m = box->messages.front();
      box->messages.pop_front();
      return m;
    };
    auto choice = [chat](uint32_t index, const std::string& text, const json& finish, bool delta) {
      json c = {{"index", index}, {"finish_reason", finish}};
      if (!chat)
        c["text"] = text;
      else if (delta)
        c["delta"] = {{"content", text}};
      else
        c["message"] = {{"role", "assistant"}, {"content", text}};
      return c;
    };

    if (!submit.stream()) {
      const ConnectionWatch watch(req);
      auto m = next([&] { return !watch.closed(); });
      close_mailbox(client);
      if (!m) {  // the client disconnected: stop its request and free its cache
        worker_.cancel(client, id);
        return;
      }
      if (m->has_error()) {
        res.status = http_status(m->error().code());
        res.set_content(error_body(m->error().message(), wire::ErrorCode_Name(m->error().code())), "application/json");
        return;
      }
      const wire::FinalResult& f = m->final();
      json choices = json::array();
      if (f.choices().empty()) choices.push_back(choice(0, f.text(), f.finish_reason(), false));
      for (const wire::Choice& c : f.choices())
        choices.push_back(choice(c.index(), c.text(), c.finish_reason(), false));
      json body = {{"id", id},
                   {"object", object},
                   {"created", created},
                   {"model", name},
                   {"choices", choices},
                   {"usage", usage(f.stats())},
                   {"tandem", speculation(f.stats())}};
      res.set_content(text_of(body), "application/json");
      return;
    }

    // Streaming: one server-sent event per token, then the finish reason, then [DONE].
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, next, choice, client, id, created, object, name](size_t, httplib::DataSink& sink) {
          auto m = next([&] { return sink.is_writable(); });
          if (!m) {  // the client disconnected: stop its request and free its cache
            worker_.cancel(client, id);
            return false;
          }
          json event = {{"id", id},
                        {"object", object + (object == "chat.completion" ? ".chunk" : "")},
                        {"created", created},
                        {"model", name}};
          bool end = false;
          if (m->has_chunk()) {
            event["choices"] = {choice(m->chunk().index(), m->chunk().text(), nullptr, true)};
          } else if (m->has_final()) {
            const wire::FinalResult& f = m->final();
            event["choices"] = json::array();
            if (f.choices().empty()) event["choices"].push_back(choice(0, "", f.finish_reason(), true));
            for (const wire::Choice& c : f.choices())
              event["choices"].push_back(choice(c.index(), "", c.finish_reason(), true));
            event["usage"] = usage(m->final().stats());
            event["tandem"] = speculation(m->final().stats());
            end = true;
          } else {
            event = error_json(m->error().message(), wire::ErrorCode_Name(m->error().code()));
            end = true;
          }
          std::string data = "data: " + text_of(event) + "\n\n";
          if (end) data += "data: [DONE]\n\n";
          if (!sink.write(data.data(), data.size())) {
            worker_.cancel(client, id);
            return false;
          }
          if (end) sink.done();
          return true;
        },
        [this, client](bool) { close_mailbox(client); });
  };
  http_->Post("/v1/completions",
              [handle](const httplib::Request& req, httplib::Response& res) { handle(req, res, false); });
  http_->Post("/v1/chat/completions",
              [handle](const httplib::Request& req, httplib::Response& res) { handle(req, res, true); });
}

}  // namespace tandem
