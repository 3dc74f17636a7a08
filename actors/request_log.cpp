#include "actors/request_log.h"

#include <cctype>
#include <cmath>

#include "observability/log.h"
#include "observability/metrics.h"

namespace tandem {

std::string outcome_of(const wire::ServerMessage& m) {
  if (!m.has_error()) return "finished";
  std::string name = wire::ErrorCode_Name(m.error().code());
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

void record_end(const wire::ServerMessage& m, const TrackedRequest* tracked) {
  Metrics& metrics = tandem::metrics();
  metrics.requests(outcome_of(m)).Increment();
  if (tracked) metrics.request_duration.Observe(seconds_since(tracked->submitted));
  if (!m.has_final()) return;
  const wire::Statistics& stats = m.final().stats();
  metrics.generated_tokens.Increment(stats.generated_tokens());
  metrics.prompt_tokens.Increment(stats.prompt_tokens());
  if (stats.generated_tokens() > 1)
    metrics.time_per_output_token.Observe(stats.decode_seconds() / double(stats.generated_tokens() - 1));
  if (tracked && !tracked->first_token_seen && stats.generated_tokens() > 0)  // not streamed: from its timings
    metrics.time_to_first_token.Observe(stats.queue_seconds() + stats.prefill_seconds() +
                                        stats.decode_seconds() / double(stats.generated_tokens()));
}

void log_end(const std::string& client, const wire::ServerMessage& m, const TrackedRequest* tracked) {
  LogFields f;
  f["request"] = m.has_final() ? m.final().request_id() : m.error().request_id();
  f["client"] = client;  // "http:KEYNAME-OR-ADDRESS:N" or "zmq:[KEYNAME:]CONNECTION"
  if (tracked) f["verifier"] = tracked->verifier;
  f["outcome"] = outcome_of(m);
  if (m.has_final()) {
    const wire::Statistics& s = m.final().stats();
    f["mode"] = s.mode();
    f["finish"] = m.final().finish_reason();
    f["prompt_tokens"] = s.prompt_tokens();
    f["tokens"] = s.generated_tokens();
    f["tokens_per_pass"] = std::round(s.tokens_per_pass() * 100) / 100;
  } else {
    f["error"] = m.error().message();
  }
  if (tracked) f["latency_ms"] = std::round(seconds_since(tracked->submitted) * 1e4) / 10;
  const bool trouble = m.has_error() && (m.error().code() == wire::INTERNAL || m.error().code() == wire::UNAVAILABLE);
  log_event(trouble ? LogLevel::warn : LogLevel::info, "request", f);
}

wire::ServerMessage error_reply(const std::string& request_id, wire::ErrorCode code, const std::string& message) {
  wire::ServerMessage m;
  m.mutable_error()->set_request_id(request_id);
  m.mutable_error()->set_code(code);
  m.mutable_error()->set_message(message);
  return m;
}

}  // namespace tandem
