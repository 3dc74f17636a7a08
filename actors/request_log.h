#pragma once
// What the scheduler leaves behind when a request ends: its metrics and its one log line.
#include <string>

#include "membership/request_router.h"
#include "proto/client.pb.h"

namespace tandem {

/// "finished", or the error code's name in lower case, as in tandem_requests_total{outcome}.
std::string outcome_of(const wire::ServerMessage& m);
/// Counts a request that ended with `m`: its outcome, latency and tokens (`tracked` null: it
/// was refused before the scheduler tracked it).
void record_end(const wire::ServerMessage& m, const TrackedRequest* tracked);
/// The one line each request leaves when it ends (never its prompt or output).
void log_end(const std::string& client, const wire::ServerMessage& m, const TrackedRequest* tracked);
/// An error reply to request `request_id`.
wire::ServerMessage error_reply(const std::string& request_id, wire::ErrorCode code, const std::string& message);

}  // namespace tandem
