#pragma once
// The verifier actor: a thin shell around a RequestWorker, which runs the target
// model on its own thread (continuous batching, speculation per request). It takes
// submit / cancel / heard / pair messages from the scheduler and sends the worker's
// replies back to whichever scheduler last gave it work. Protocol: actors/messages.h.
#include <caf/all.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "server/request_worker.h"
#include "shards/shard_pool.h"

namespace tandem {

/// Where a verifier's replies go; shared by the actor and the worker's sink.
struct VerifierRoute {
  std::mutex mutex;
  caf::actor scheduler;  // null until the first request arrives
  std::string name;      // the verifier's node name
};

/// A ReplySink that sends each worker reply to the route's scheduler.
ReplySink verifier_sink(std::shared_ptr<VerifierRoute> route);

/// Spawns the actor for `worker` (built with verifier_sink(route)), which spreads requests over
/// `shards` as the scheduler assigns them. Both must outlive it, or until the actor answers a
/// flush message, after which it quits without touching them.
caf::actor spawn_verifier(caf::actor_system& system, RequestWorker& worker, ShardPool& shards,
                          std::shared_ptr<VerifierRoute> route);

}  // namespace tandem
