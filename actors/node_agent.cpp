#include "actors/node_agent.h"

#include "actors/messages.h"
#include "observability/log.h"

namespace tandem {
namespace {
std::atomic<bool> refused{false};
// How many times a node whose name is still a live member's tries again, a heartbeat apart,
// before it gives up: long enough for the scheduler to see a killed predecessor go.
constexpr int kNameWaits = 150;
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
    // Heartbeats start once joined: until then the name may still be an old member's, whose
    // silence must let it expire.
    auto member = std::make_shared<bool>(false);
    auto name_waits = std::make_shared<int>(0);  // joins refused so far because the name was live
    auto joined = [s, member, name_waits] {
      log_event(LogLevel::info, "joined_scheduler", {{"role", s.role}});
      *member = true;
      *name_waits = 0;
      if (s.joined) *s.joined = true;
    };
    auto not_joined = [self, s, give_up, name_waits](caf::error& e) {
      const std::string reason = failure_reason(e, self->system());
      if (is_cluster_error(e, cluster_error::name_in_use) && ++*name_waits <= kNameWaits) {
        if (*name_waits == 1) log_event(LogLevel::warn, "join_waits", {{"why", reason}});
        self->delayed_send(self, std::chrono::milliseconds(s.heartbeat_ms), join_atom::value);
        return;
      }
      if (is_cluster_error(e, cluster_error::refused) || is_cluster_error(e, cluster_error::name_in_use)) {
        refused = true;
        return give_up("refused: " + reason);
      }
      give_up(reason);
    };
    auto send_join = [self, scheduler, s, timeout, work, joined, not_joined](const std::string& proof) {
      const JoinRequest request{s.role,       s.name,     s.data_endpoint, work, s.model,
                                s.vocabulary, s.data_key, s.site,          proof};
      self->request(scheduler, timeout, join_atom::value, request).then(joined, not_joined);
    };
    auto join = [self, scheduler, s, timeout, give_up, send_join] {
      if (!s.prove) return send_join("");
      self->request(scheduler, timeout, challenge_atom::value)
          .then(
              [s, give_up, send_join](const std::string& nonce) {
                std::string proof;
                try {
                  proof = s.prove(JoinClaim{s.role, s.name, s.data_endpoint, s.data_key, nonce});
                } catch (const std::exception& e) {
                  refused = true;
                  return give_up(std::string("cannot prove this node's name: ") + e.what());
                }
                send_join(proof);
              },
              [give_up, self](caf::error& e) { give_up(self->system().render(e)); });
    };
    self->monitor(scheduler);
    self->set_down_handler([give_up](caf::down_msg&) { give_up("disconnected"); });
    join();
    self->send(self, tick_atom::value);
    return {
        [self, scheduler, s](drain_atom) { self->send(scheduler, drain_atom::value, s.name); },
        // Answers once the keys are admitted: the scheduler pairs a verifier with this
        // drafter only then, so the verifier's first handshake is never refused.
        [s](admit_atom, const std::string& verifier_keys) {
          if (s.admit) s.admit(verifier_keys);
          return true;
        },
        [s](group_atom, const std::string& verifier, const std::string& ids) {
          if (s.nccl_link) s.nccl_link(verifier, ids);
        },
        [join](join_atom) { join(); },
        [self, scheduler, s, timeout, join, give_up, member](tick_atom) {
          self->delayed_send(self, std::chrono::milliseconds(s.heartbeat_ms), tick_atom::value);
          if (!*member) return;
          auto [live, kv] = s.load ? s.load() : std::pair<int64_t, int64_t>{0, 0};
          self->request(scheduler, timeout, heartbeat_atom::value, Heartbeat{s.name, live, kv})
              .then(
                  [join, member](bool known) {
                    if (known) return;
                    *member = false;  // dropped meanwhile (silent too long): join again
                    join();
                  },
                  [give_up, self](caf::error& e) { give_up(self->system().render(e)); });
        },
    };
  };
  return system.spawn(init, std::move(scheduler), std::move(settings));
}

}  // namespace tandem
