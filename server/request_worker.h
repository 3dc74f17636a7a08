#pragma once
// Runs client requests on the loaded models with continuous batching: every pass,
// each active request drafts its tree and all of them go through one target
// forward; new requests join between passes, finished ones leave. Admission
// (queue limit, duplicate ids), deadlines and cancellation are handled here.
// PEARL requests are in the batch too: a drafting thread drafts ahead for them while
// the forward runs (speculation/ahead_drafting).
//
//   submit ─▶ queue ─▶ admit (parse, prefill) ─▶ [ add_pass … forward … finish_pass ]* ─▶ final
//                 └─▶ OVERLOADED              └─▶ INVALID_ARGUMENT     └─▶ CANCELLED / DEADLINE_EXCEEDED
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "security/curve.h"
#include "server/active_request.h"
#include "server/admission.h"
#include "server/prompt_reuse.h"
#include "server/request_backend.h"

namespace tandem {

/// One worker thread serving every request.
class RequestWorker : public RequestBackend {
 public:
  using Sink = ReplySink;

  RequestWorker(ServingModels models, ServingOptions options, Sink sink);
  ~RequestWorker();
  RequestWorker(const RequestWorker&) = delete;
  RequestWorker& operator=(const RequestWorker&) = delete;

  /// Admits a request or answers at once (OVERLOADED, INVALID_ARGUMENT for a duplicate id).
  void submit(const std::string& client, const wire::SubmitRequest& request) override;
  void cancel(const std::string& client, const std::string& request_id) override;
  void client_gone(const std::string& client) override;
  void heard_from(const std::string& client) override;
  std::vector<std::string> live_clients() const override;
  size_t live_requests() const override;
  int64_t kv_cache_bytes() const override { return kv_cache_bytes_; }
  /// From the next admitted request on, chain and tree requests draft on the drafter process
  /// at `endpoint` ('' for none: they decode alone). Earlier requests keep their drafter.
  /// With the drafter's CURVE public key, the channel is CURVE with this worker's data keys.
  /// With NCCL link ids (transport/nccl_channel.h) it joins that link as rank 0 instead, and
  /// falls back to ZeroMQ if joining fails.
  void use_remote_drafter(const std::string& endpoint, const std::string& drafter_key = "",
                          const std::string& nccl_group_ids = "");
  /// The link to the drafter in use, for /health: {"link": "nccl"|"zeromq"|"none",
  /// "endpoint": the drafter's data endpoint ("" for none), "reason": ...};
  /// a change heard but not yet taken up (the next request to start takes it up) counts.
  nlohmann::json drafter_link() const;
  /// The key pair this worker's drafter channels speak CURVE with (its public half is what
  /// the verifier states when it joins); set before any use_remote_drafter.
  void set_data_keys(const CurveKeyPair& keys) { data_keys_ = keys; }
  /// The prefix cache, for /health: budget, bytes, entries, hits, hit tokens, evictions, scope.
  nlohmann::json prefix_cache() const { return prompt_reuse_.health(); }

 private:
  void loop();
  // Tokenizes submitted prompts, then queues their requests (its own thread, so that a long
  // prompt's tokenizing holds up neither the passes nor the endpoints).
  void prepare();
  // Starts queued requests while there is room in the batch; false when stopping.
  bool admit(std::vector<std::unique_ptr<ActiveRequest>>& active);
  // Whether drafting beside the pass pays: PEARL requests are most of the batch, none prefilling.
  static bool drafting_pays(const std::vector<std::unique_ptr<ActiveRequest>>& active);
  // What one pass computes: every request's tokens as its own sequence, their caches,
  // whether each put in a prompt chunk, and where its logits start (-1: none, a prompt chunk
  // before the prompt's last token).
  struct PassPlan {
    std::vector<BatchToken> batch;
    std::vector<KvCache*> caches;
    std::vector<bool> prefill;
    std::vector<int64_t> first_row;
    bool drafting_beside = false;  // PEARL drafts beside the forward, which keeps to the verifier's cores
  };
  // One pass over every active request: plan it, run it, complete it.
  void step(std::vector<std::unique_ptr<ActiveRequest>>& active);
  // Which tokens of which requests the pass computes (a request that fails here ends).
  PassPlan plan_pass(std::vector<std::unique_ptr<ActiveRequest>>& active);
  // The target forward over the plan; false (every request ended) when it cannot run.
  bool run_pass(const PassPlan& plan, std::vector<std::unique_ptr<ActiveRequest>>& active,
                std::span<const float>& logits);
  // Hands each request its logits: verifies, streams, forks samples, ends what finished.
  void complete_pass(const PassPlan& plan, std::vector<std::unique_ptr<ActiveRequest>>& active,
                     std::span<const float> logits);
  void end(const RequestTicket& ticket, const wire::ServerMessage& last);
  // Ends an active request with `last`; a sample of several adds its final to its group's,
  // which answers once (all samples, or the first with first_finish) or fails once.
  void conclude(ActiveRequest& request, const wire::ServerMessage& last);
  // KV cache bytes the active requests hold, each shared prompt counted once.
  static int64_t cache_bytes(const std::vector<std::unique_ptr<ActiveRequest>>& active);
  void reply_error(const RequestTicket& ticket, int code, const std::string& message);
  // Connects the drafter asked for by use_remote_drafter, if any (worker thread).
  void switch_remote_drafter();

  ServingModels models_;
  ServingOptions options_;
  Sink sink_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<RequestTicket>> incoming_;  // submitted, to be tokenized
  std::condition_variable incoming_ready_;
  std::deque<std::shared_ptr<RequestTicket>> queue_;  // tokenized, waiting for the batch
  Admission admission_;                               // who joins the batch next (mutex_ held)
  std::map<std::pair<std::string, std::string>, std::shared_ptr<RequestTicket>> live_;  // (client, request id)
  bool stopping_ = false;
  std::atomic<int64_t> kv_cache_bytes_{0};
  std::atomic<int64_t> pass_rows_{0};  // rows of the latest pass, which auto requests weigh their drafts against
  PromptReuse prompt_reuse_;           // earlier prompts' keys and values for later prompts
  struct DrafterChange {
    std::string endpoint, key, nccl_group_ids;
  };
  std::optional<DrafterChange> drafter_change_;     // guarded by mutex_
  std::string link_, link_endpoint_, link_reason_;  // the drafter link in use, guarded by mutex_
  CurveKeyPair data_keys_;
  std::vector<std::unique_ptr<RemoteDrafterLink>> drafter_links_;  // kept while requests may use them
  std::unique_ptr<AheadDrafting> pearl_drafting_;                  // when a draft model has the drafter's share
  std::thread thread_, prepare_thread_;
};

}  // namespace tandem
