#include "apps/scheduler_host.h"

#include "actors/messages.h"
#include "apps/flags.h"
#include "cluster/control_plane.h"

namespace tandem {

SchedulerHost::SchedulerHost(caf::actor_system& system, int64_t node_timeout_ms)
    : system_(system),
      scheduler_(spawn_scheduler(system, {endpoints_.sink(), view_, node_timeout_ms})),
      gateway_(std::make_unique<SchedulerGateway>(scheduler_, view_)) {}

std::string SchedulerHost::publish(const std::string& control) {
  return control.empty() ? "none" : publish_actor(system_, scheduler_, control);
}

void SchedulerHost::open(const Model& model, const std::string& listen, const std::string& http) {
  try {
    endpoints_.open(*gateway_, model, listen, http);
  } catch (const std::invalid_argument& e) { throw UsageError(e.what()); }
}

void SchedulerHost::shutdown(std::chrono::milliseconds drain, const std::function<void()>& stop_local_work) {
  endpoints_.drain(drain);
  endpoints_.stop_admitting();
  if (stop_local_work) stop_local_work();
  // The scheduler relays what the verifiers sent before this request, then quits.
  caf::scoped_actor self{system_};
  self->request(scheduler_, std::chrono::seconds(5), flush_atom::value).receive([](bool) {}, [](caf::error&) {});
  caf::anon_send_exit(scheduler_, caf::exit_reason::user_shutdown);
  endpoints_.close();
}

}  // namespace tandem
