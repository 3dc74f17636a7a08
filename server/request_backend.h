#pragma once
// What the client endpoints (ZeroMQ frontend, HTTP gateway) hand requests to: the
// worker itself inside one process, or the scheduler actor of a cluster.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "proto/client.pb.h"

namespace tandem {

/// Where replies go: the client's routing id and the message.
using ReplySink = std::function<void(const std::string& client, const wire::ServerMessage& message)>;

/// Takes client requests; replies come back through the sink the backend was built with.
class RequestBackend {
 public:
  virtual ~RequestBackend() = default;
  /// Admits a request or answers at once with an error.
  virtual void submit(const std::string& client, const wire::SubmitRequest& request) = 0;
  /// Cancels the client's request: it ends with CANCELLED (a no-op if it already ended).
  virtual void cancel(const std::string& client, const std::string& request_id) = 0;
  /// The client has gone (its connection closed): every request of its ends with CANCELLED.
  virtual void client_gone(const std::string& client) = 0;
  /// Any message from `client` shows it is still there (see SubmitRequest.heartbeat_ms).
  virtual void heard_from(const std::string& client) = 0;
  /// Clients with a request waiting or running.
  virtual std::vector<std::string> live_clients() const = 0;
  /// Requests waiting or running.
  virtual size_t live_requests() const = 0;
  /// Bytes of target KV cache held by running requests (0 when none run).
  virtual int64_t kv_cache_bytes() const = 0;
  /// Live verifier, drafter and KV shard nodes serving this backend.
  virtual size_t verifiers() const { return 1; }
  virtual size_t drafters() const { return 0; }
  virtual size_t shards() const { return 0; }
};

}  // namespace tandem
