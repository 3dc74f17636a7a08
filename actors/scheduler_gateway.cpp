#include "actors/scheduler_gateway.h"

#include "actors/messages.h"

namespace tandem {

void SchedulerGateway::submit(const std::string& client, const wire::SubmitRequest& request) {
  caf::anon_send(scheduler_, submit_atom::value, SubmitWork{client, request});
}

void SchedulerGateway::client_gone(const std::string& client) { caf::anon_send(scheduler_, gone_atom::value, client); }

void SchedulerGateway::cancel(const std::string& client, const std::string& request_id) {
  caf::anon_send(scheduler_, cancel_atom::value, client, request_id);
}

void SchedulerGateway::heard_from(const std::string& client) { caf::anon_send(scheduler_, heard_atom::value, client); }

std::vector<std::string> SchedulerGateway::live_clients() const {
  std::lock_guard lock(view_->mutex);
  return view_->live_clients;
}

size_t SchedulerGateway::live_requests() const {
  std::lock_guard lock(view_->mutex);
  return view_->live_requests;
}

int64_t SchedulerGateway::kv_cache_bytes() const {
  std::lock_guard lock(view_->mutex);
  return view_->kv_cache_bytes;
}

size_t SchedulerGateway::verifiers() const {
  std::lock_guard lock(view_->mutex);
  return view_->verifiers;
}

size_t SchedulerGateway::drafters() const {
  std::lock_guard lock(view_->mutex);
  return view_->drafters;
}

size_t SchedulerGateway::shards() const {
  std::lock_guard lock(view_->mutex);
  return view_->shards;
}

}  // namespace tandem
