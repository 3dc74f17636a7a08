#pragma once
// The verifier role as a process hosts it (`tandem serve`, `tandem node --role
// verifier`): the target model (and an optional local draft model), the request
// worker that runs them, its actor, and the agent that keeps it joined to a scheduler.
#include <atomic>
#include <caf/all.hpp>
#include <memory>
#include <string>

#include "actors/verifier_actor.h"
#include "apps/flags.h"
#include "apps/kv_shard_setup.h"
#include "security/join_proof.h"
#include "server/request_worker.h"
#include "transport/link_site.h"

namespace tandem {

/// Declares the verifier's flags: models, threads, speculation defaults and serving limits.
void add_verifier_flags(Flags& flags, const std::string& default_draft_model);

/// A loaded verifier, its worker running.
class VerifierHost {
 public:
  /// Loads the models named by `flags` and starts the worker and its actor in `system`.
  VerifierHost(const Flags& flags, caf::actor_system& system, std::string name);
  ~VerifierHost() { stop(); }

  /// Joins `scheduler` (and keeps joined), proving its name with `prove` (null: no proof);
  /// `lost` is set if the scheduler goes away.
  void join(const caf::actor& scheduler, std::shared_ptr<std::atomic<bool>> lost, int64_t heartbeat_ms,
            JoinProver prove);
  /// Whether it is joined to a scheduler now.
  bool joined() const { return *joined_; }
  /// Requests waiting or running, and the KV cache bytes they hold.
  size_t live_requests() const { return worker_ ? worker_->live_requests() : 0; }
  int64_t kv_cache_bytes() const { return worker_ ? worker_->kv_cache_bytes() : 0; }
  /// Tells the scheduler to send no more requests, and waits up to `timeout` for the running
  /// ones to finish.
  void drain(std::chrono::milliseconds timeout);
  /// Leaves the scheduler and ends the worker: requests still running hear CANCELLED.
  void stop();

  const Model& target() const { return *target_; }
  /// One line: models, default mode, threads.
  std::string describe() const;
  /// Its link to a drafter node for /health: {"link", "reason"}.
  nlohmann::json drafter_link() const { return worker_->drafter_link(); }
  /// The prefix cache, for /health.
  nlohmann::json prefix_cache() const { return worker_->prefix_cache(); }
  /// Its KV shards for /health (an empty array without shards).
  nlohmann::json kv_shards() const { return kv_shards_health(shards_); }

 private:
  caf::actor_system& system_;
  std::string name_;
  std::unique_ptr<Model> target_, draft_;
  std::unique_ptr<Transformer> target_tf_, draft_tf_, pearl_target_tf_, pearl_draft_tf_;
  ServingOptions options_;
  std::shared_ptr<VerifierRoute> route_ = std::make_shared<VerifierRoute>();
  KvShardSetup shards_;  // before worker_: requests release their segments as the worker ends
  std::string model_fingerprint_, vocabulary_fingerprint_;  // model/fingerprint.h
  std::string draft_vocabulary_;                            // what --draft-vocab did
  LinkSite link_site_;                                      // stated at every (re)join
  // Made afresh each start; its public half travels to the paired drafter over the control plane.
  CurveKeyPair data_keys_ = generate_curve_keys();
  std::unique_ptr<RequestWorker> worker_;
  caf::actor actor_, agent_;
  std::shared_ptr<std::atomic<bool>> joined_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace tandem
