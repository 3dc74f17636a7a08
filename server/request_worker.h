#pragma once
// Runs client requests on the loaded models, one at a time, in arrival order:
// admission (queue limit, validation), deadlines, cancellation, streaming.
// (Continuous batching across requests comes with the cluster's verifier actor.)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "proto/client.pb.h"
#include "runner/speculation_mode.h"

namespace tandem {

/// The models a server runs. Draft and PEARL transformers may be null when no draft model is loaded.
struct ServingModels {
  Transformer* target = nullptr;        // all threads
  Transformer* draft = nullptr;         // all threads, for chain and tree
  Transformer* pearl_target = nullptr;  // the verifier's share of the cores
  Transformer* pearl_draft = nullptr;   // the drafter's share
};

/// Serving limits and defaults.
struct ServingOptions {
  ModeSettings defaults;         // mode and knobs when a request names none
  int default_max_tokens = 256;  // when a request asks for 0
  int max_tokens_limit = 4096;   // most a request may ask for
  int64_t max_context = 4096;    // KV positions per request
  size_t queue_limit = 64;       // requests waiting or running; beyond it: OVERLOADED
};

/// One worker thread serving requests in arrival order.
class RequestWorker {
 public:
  /// Where replies go: the client's routing id and the message.
  using Sink = std::function<void(const std::string& client, const wire::ServerMessage& message)>;

  RequestWorker(ServingModels models, ServingOptions options, Sink sink);
  ~RequestWorker();
  RequestWorker(const RequestWorker&) = delete;
  RequestWorker& operator=(const RequestWorker&) = delete;

  /// Admits a request or answers at once (OVERLOADED, INVALID_ARGUMENT for a duplicate id).
  void submit(const std::string& client, const wire::SubmitRequest& request);
  /// Cancels the client's request: it ends with CANCELLED (a no-op if it already ended).
  void cancel(const std::string& client, const std::string& request_id);
  /// Requests waiting or running.
  size_t live_requests() const;

 private:
  struct Job {
    std::string client;
    wire::SubmitRequest request;
    std::chrono::steady_clock::time_point received, deadline;  // deadline: max() when none
    std::atomic<bool> cancelled{false};
  };
  void loop();
  void run(Job& job);
  void reply_error(const Job& job, int code, const std::string& message);

  ServingModels models_;
  ServingOptions options_;
  Sink sink_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Job>> live_;  // (client, request id)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tandem
