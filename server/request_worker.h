#pragma once
// Runs client requests on the loaded models with continuous batching: every pass,
// each active request drafts its tree and all of them go through one target
// forward; new requests join between passes, finished ones leave. Admission
// (queue limit, duplicate ids), deadlines and cancellation are handled here.
// PEARL requests run alone on their own threads, between passes.
//
//   submit ─▶ queue ─▶ admit (parse, prefill) ─▶ [ add_pass … forward … finish_pass ]* ─▶ final
//                 └─▶ OVERLOADED              └─▶ INVALID_ARGUMENT     └─▶ CANCELLED / DEADLINE_EXCEEDED
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/active_request.h"

namespace tandem {

/// One worker thread serving every request.
class RequestWorker {
 public:
  using Sink = ReplySink;

  RequestWorker(ServingModels models, ServingOptions options, Sink sink);
  ~RequestWorker();
  RequestWorker(const RequestWorker&) = delete;
  RequestWorker& operator=(const RequestWorker&) = delete;

  /// Admits a request or answers at once (OVERLOADED, INVALID_ARGUMENT for a duplicate id).
  void submit(const std::string& client, const wire::SubmitRequest& request);
  /// Cancels the client's request: it ends with CANCELLED (a no-op if it already ended).
  void cancel(const std::string& client, const std::string& request_id);
  /// Any message from `client` shows it is still there (see SubmitRequest.heartbeat_ms).
  void heard_from(const std::string& client);
  /// Clients with a request waiting or running.
  std::vector<std::string> live_clients() const;
  /// Requests waiting or running.
  size_t live_requests() const;
  /// Bytes of target KV cache held by the requests being decoded (0 when none are).
  int64_t kv_cache_bytes() const { return kv_cache_bytes_; }

 private:
  void loop();
  // Starts queued requests while there is room in the batch; false when stopping.
  bool admit(std::vector<std::unique_ptr<ActiveRequest>>& active);
  // One pass over every active request.
  void step(std::vector<std::unique_ptr<ActiveRequest>>& active);
  void end(const RequestTicket& ticket, const wire::ServerMessage& last);
  void reply_error(const RequestTicket& ticket, int code, const std::string& message);

  ServingModels models_;
  ServingOptions options_;
  Sink sink_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<RequestTicket>> queue_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RequestTicket>> live_;  // (client, request id)
  bool stopping_ = false;
  std::atomic<int64_t> kv_cache_bytes_{0};
  std::thread thread_;
};

}  // namespace tandem
