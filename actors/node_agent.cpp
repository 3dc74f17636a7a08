#include "actors/node_agent.h"

#include "actors/messages.h"
#include "cluster/log.h"

namespace tandem {
namespace {
std::atomic<bool> refused{false};
}  // namespace

bool node_was_refused() { return refused; }

caf::actor spawn_node_agent(caf::actor_system& system, caf::actor scheduler, NodeAgentSettings settings) {
  // State goes in as spawn arguments, not lambda captures: see spawn_scheduler.
  auto init = [](caf::event_based_actor* self, caf::actor scheduler, NodeAgentSettings s) -> caf::behavior {
    const auto timeout = std::chrono::milliseconds(4 * s.heartbeat_ms + 1000);
    auto give_up = [self, s](const std::string& why) {
      log_event(LogLevel::warn, "scheduler_lost", {{"why", why}});
      if (s.scheduler_lost) *s.scheduler_lost = true;
      if (s.joined) *s.joined = false;
      self->quit();
    };
    const caf::actor work = s.work ? s.work : caf::actor_cast<caf::actor>(self);
    auto join = [self, scheduler, s, timeout, give_up, work] {
      self->request(scheduler, timeout, join_atom::value, s.role, s.name, s.data_endpoint, work, s.model, s.vocabulary,
                    s.data_key, s.site)
          .then(
              [self, s, give_up](const std::string& reason) {
                if (!reason.empty()) {
                  refused = true;
                  return give_up("refused: " + reason);
                }
                log_event(LogLevel::info, "joined_scheduler", {{"role", s.role}});
                if (s.joined) *s.joined = true;
              },
              [give_up, self](caf::error& e) { give_up(self->system().render(e)); });
    };
    self->monitor(scheduler);
    self->set_down_handler([give_up](caf::down_msg&) { give_up("disconnected"); });
    join();
    self->send(self, tick_atom::value);
    return {
        [self, scheduler, s](drain_atom) { self->send(scheduler, drain_atom::value, s.name); },
        [s](admit_atom, const std::string& verifier_keys) {
          if (s.admit) s.admit(verifier_keys);
        },
        [s](group_atom, const std::string& verifier, const std::string& ids) {
          if (s.nccl_link) s.nccl_link(verifier, ids);
        },
        [self, scheduler, s, timeout, join, give_up](tick_atom) {
          auto [live, kv] = s.load ? s.load() : std::pair<int64_t, int64_t>{0, 0};
          self->request(scheduler, timeout, heartbeat_atom::value, s.name, live, kv)
              .then(
                  [join](bool known) {
                    if (!known) join();
                  },
                  [give_up, self](caf::error& e) { give_up(self->system().render(e)); });
          self->delayed_send(self, std::chrono::milliseconds(s.heartbeat_ms), tick_atom::value);
        },
    };
  };
  return system.spawn(init, std::move(scheduler), std::move(settings));
}

}  // namespace tandem
