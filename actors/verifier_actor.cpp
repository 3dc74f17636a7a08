#include "actors/verifier_actor.h"

#include "actors/messages.h"
#include "transport/nccl_channel.h"

namespace tandem {

ReplySink verifier_sink(std::shared_ptr<VerifierRoute> route) {
  return [route](const std::string& client, const wire::ServerMessage& message) {
    caf::actor scheduler;
    std::string name;
    {
      std::lock_guard lock(route->mutex);
      scheduler = route->scheduler;
      name = route->name;
    }
    if (scheduler) caf::anon_send(scheduler, reply_atom::value, VerifierReply{name, client, message});
  };
}

caf::actor spawn_verifier(caf::actor_system& system, RequestWorker& worker, ShardPool& shards,
                          std::shared_ptr<VerifierRoute> route) {
  // State goes in as spawn arguments, not lambda captures: see spawn_scheduler.
  auto init = [](caf::event_based_actor* self, RequestWorker* worker_ptr, ShardPool* shards_ptr,
                 std::shared_ptr<VerifierRoute> route) -> caf::behavior {
    RequestWorker& worker = *worker_ptr;
    ShardPool& shards = *shards_ptr;
    return {
        [self, &worker, route](submit_atom, const SubmitWork& w) {
          {
            std::lock_guard lock(route->mutex);
            route->scheduler = caf::actor_cast<caf::actor>(self->current_sender());
          }
          if (w.parsed) worker.submit(w.client, w.request);
        },
        [&worker](cancel_atom, const std::string& client, const std::string& request_id) {
          worker.cancel(client, request_id);
        },
        [&worker](heard_atom, const std::string& client) { worker.heard_from(client); },
        [&worker](pair_atom, const PairWith& p) {
          worker.use_remote_drafter(p.drafter_endpoint, p.drafter_key, p.nccl_group_ids);
        },
        // The ids of a new NCCL link to its drafter (this end hosts its rendezvous).
        [](group_atom) -> caf::result<std::string> {
          try {
            return nccl_new_group_ids();
          } catch (const std::runtime_error& e) { return cluster_failure(cluster_error::no_link, e.what()); }
        },
        [&shards](shards_atom, const std::string& endpoints) { shards.assign(endpoints); },
        [self](flush_atom) {  // the owner is about to end the worker: touch it no more
          self->quit();
          return true;
        },
    };
  };
  return system.spawn(init, &worker, &shards, std::move(route));
}

}  // namespace tandem
