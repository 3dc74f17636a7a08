#pragma once
// The gateway's side of the scheduler: the client endpoints (ZeroMQ frontend, HTTP)
// call this RequestBackend from their own threads; it forwards each call to the
// scheduler actor as a message and answers queries from the scheduler's view.
#include <caf/all.hpp>
#include <memory>

#include "actors/scheduler_actor.h"
#include "server/request_backend.h"

namespace tandem {

/// A RequestBackend in front of a scheduler actor.
class SchedulerGateway : public RequestBackend {
 public:
  SchedulerGateway(caf::actor scheduler, std::shared_ptr<SchedulerView> view)
      : scheduler_(std::move(scheduler)), view_(std::move(view)) {}

  void submit(const std::string& client, const wire::SubmitRequest& request) override;
  void cancel(const std::string& client, const std::string& request_id) override;
  void client_gone(const std::string& client) override;
  void heard_from(const std::string& client) override;
  std::vector<std::string> live_clients() const override;
  size_t live_requests() const override;
  int64_t kv_cache_bytes() const override;
  size_t verifiers() const override;
  size_t drafters() const override;
  size_t shards() const override;

 private:
  caf::actor scheduler_;
  std::shared_ptr<SchedulerView> view_;
};

}  // namespace tandem
