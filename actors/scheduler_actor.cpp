#include "actors/scheduler_actor.h"

#include "actors/request_log.h"
#include "actors/scheduler.h"
#include "observability/log.h"
#include "observability/metrics.h"

namespace tandem {

Scheduler::Scheduler(caf::event_based_actor* self, SchedulerSettings settings)
    : self_(self),
      settings_(std::move(settings)),
      state_(settings_.node_timeout_ms),
      proofs_(settings_.cluster_ca, settings_.local_secret) {}

caf::behavior Scheduler::behavior() {
  self_->set_down_handler([this](caf::down_msg& down) {
    auto it = state_.node_names.find(down.source);
    if (it == state_.node_names.end()) return;
    const std::string name = it->second;
    state_.node_names.erase(it);
    lose(name, "disconnected");
    publish_view();
  });
  self_->send(self_, tick_atom::value);
  return {
      [this](challenge_atom) { return state_.challenges.issue(steady_now_ms()); },
      [this](join_atom, const JoinRequest& r) -> caf::result<void> {
        std::string refused =
            unproven(JoinClaim{r.role, r.name, r.data_endpoint, r.data_key, join_proof_nonce(r.proof)}, r.proof);
        if (refused.empty()) refused = join(r);
        if (refused.empty()) return caf::unit;
        log_event(LogLevel::warn, "node_refused", {{"role", r.role}, {"name", r.name}, {"why", refused}});
        const bool name_in_use = refused.rfind(kNameInUse, 0) == 0;
        return cluster_failure(name_in_use ? cluster_error::name_in_use : cluster_error::refused, refused);
      },
      [this](heartbeat_atom, const Heartbeat& h) {
        const bool known = state_.membership.heard(h.name, steady_now_ms(), h.live_requests, h.kv_cache_bytes);
        publish_view();
        return known;
      },
      [this](submit_atom, const SubmitWork& w) {
        if (w.parsed) submit(w);
        publish_view();
      },
      [this](cancel_atom, const std::string& client, const std::string& request_id) {
        if (const TrackedRequest* tracked = state_.requests.find({client, request_id}))
          send_work(tracked->verifier, cancel_atom::value, client, request_id);
      },
      [this](gone_atom, const std::string& client) {  // its connection closed: its requests end
        for (const auto& [request_id, verifier] : state_.requests.requests_of(client))
          send_work(verifier, cancel_atom::value, client, request_id);
      },
      [this](heard_atom, const std::string& client) {
        std::string last;
        for (const auto& [request_id, verifier] : state_.requests.requests_of(client))
          if (verifier != last) send_work(last = verifier, heard_atom::value, client);
      },
      [this](reply_atom, const VerifierReply& r) {
        if (r.parsed) relay(r.verifier, r.client, r.message);
        publish_view();
      },
      [this](tick_atom) {
        for (const NodeInfo& node : state_.membership.expire(steady_now_ms())) end_node(node, "silent");
        pair_drafters();
        publish_view();
        self_->delayed_send(self_, std::chrono::milliseconds(settings_.tick_ms), tick_atom::value);
      },
      [this](drain_atom, const std::string& name) {
        if (!state_.membership.drain(name)) return;
        log_event(LogLevel::info, "node_draining", {{"name", name}});
        if (const NodeInfo* node = state_.membership.find(name); node && node->role == NodeRole::shard) assign_shards();
      },
      [](flush_atom) { return true; },
  };
}

std::string Scheduler::unproven(const JoinClaim& claim, const std::string& proof) {
  if (settings_.cluster_ca.empty()) return "";
  if (!claim.nonce.empty() && !state_.challenges.take(claim.nonce, steady_now_ms()))
    return "the join proof answers no challenge of this scheduler's (used, or over " +
           std::to_string(Challenges::kLifetimeMs / 1000) + " s old)";
  return proofs_.check(proof, claim);
}

std::string Scheduler::join(const JoinRequest& r) {
  const std::string& name = r.name;
  auto role = role_named(r.role);
  if (!role) return "unknown role '" + r.role + "' (drafter, verifier or shard)";
  if (name.empty()) return "a node needs a name";
  if (*role != NodeRole::verifier && r.data_endpoint.empty()) return "a " + r.role + " must give its data endpoint";
  if (std::string wrong = wrong_model(*role, r.model, r.vocabulary); !wrong.empty()) return wrong;
  NodeInfo node;
  node.name = name;
  node.role = *role;
  node.data_endpoint = r.data_endpoint;
  node.model = r.model;
  node.vocabulary = r.vocabulary;
  node.data_key = r.data_key;
  node.site = parse_link_site(r.site);
  if (!state_.membership.join(node, steady_now_ms()))
    return std::string(kNameInUse) + ": '" + name + "' is a live member; a restart under that name joins once the " +
           "old node has gone (disconnected, or silent for " + std::to_string(settings_.node_timeout_ms) + " ms)";
  state_.work_actors[name] = r.work;
  // An old self that expired by silence may still have its address here; its late
  // disconnect must not take the new member with it.
  std::erase_if(state_.node_names, [&](const auto& entry) { return entry.second == name; });
  state_.node_names[r.work.address()] = name;
  self_->monitor(r.work);
  LogFields joined = {{"role", r.role}, {"name", name}};
  if (!r.data_endpoint.empty()) joined["data"] = r.data_endpoint;
  log_event(LogLevel::info, "node_joined", joined);
  // Verifiers hear of shards only once every shard admits their keys: a handshake refused
  // meanwhile would cost a pass a shard's answer.
  if (*role == NodeRole::verifier)
    admit_verifiers_on_shards([this, name] {
      if (state_.membership.find(name)) send_work(name, shards_atom::value, state_.membership.shard_list());
    });
  else if (*role == NodeRole::shard)
    admit_verifiers_on_shards([this] { assign_shards(); });
  pair_drafters();
  publish_view();
  return "";
}

std::string Scheduler::wrong_model(NodeRole role, const std::string& model, const std::string& vocabulary) const {
  if (role == NodeRole::verifier && !settings_.model.empty() && model != settings_.model)
    return "this cluster serves " + settings_.model + ", not " + (model.empty() ? "an unnamed model" : model);
  if (role == NodeRole::drafter && !settings_.vocabulary.empty() && vocabulary != settings_.vocabulary)
    return "the drafter's vocabulary (" + (vocabulary.empty() ? "none" : vocabulary) + ") is not the target's (" +
           settings_.vocabulary + ")";
  return "";
}

void Scheduler::lose(const std::string& name, const std::string& why) {
  if (auto node = state_.membership.leave(name)) end_node(*node, why);
}

void Scheduler::end_node(const NodeInfo& node, const std::string& why) {
  log_event(LogLevel::warn, "node_lost", {{"role", role_name(node.role)}, {"name", node.name}, {"why", why}});
  if (node.role == NodeRole::verifier) {
    for (const auto& [key, tracked] : state_.requests.take_requests_on(node.name))
      reply_end(key.first, &tracked,
                error_reply(key.second, wire::UNAVAILABLE,
                            "verifier '" + node.name + "' was lost (" + why + ") before the request finished"));
    if (!node.partner.empty()) admit_keys(node.partner);  // its drafter no longer admits it
  } else if (node.role == NodeRole::drafter) {
    for (const std::string& verifier : node.verifiers)  // each goes on alone until paired again
      send_work(verifier, pair_atom::value, PairWith{});
  }
  state_.work_actors.erase(node.name);
  pair_drafters();
  if (node.role == NodeRole::shard) assign_shards();
  if (node.role == NodeRole::verifier) admit_verifiers_on_shards();
}

void Scheduler::submit(const SubmitWork& w) {
  const std::string& client = w.client;
  const RequestKey key{client, w.request.request_id()};
  const Route route = state_.requests.route(key, state_.membership, std::chrono::steady_clock::now());
  if (route.refusal == Route::Refusal::duplicate_id)
    reply_end(client, nullptr,
              error_reply(key.second, wire::INVALID_ARGUMENT, "request id '" + key.second + "' is already in use"));
  else if (route.refusal == Route::Refusal::no_verifier)
    reply_end(client, nullptr,
              error_reply(key.second, wire::UNAVAILABLE, "no verifier has joined the cluster (or all are draining)"));
  else
    send_work(route.verifier, submit_atom::value, w);
}

void Scheduler::relay(const std::string& verifier, const std::string& client, const wire::ServerMessage& m) {
  const std::string& id = m.has_chunk()   ? m.chunk().request_id()
                          : m.has_final() ? m.final().request_id()
                          : m.has_error() ? m.error().request_id()
                                          : std::string();
  TrackedRequest* tracked = state_.requests.owned_by({client, id}, verifier);
  if (!tracked) return;  // ended already (verifier dropped)
  if (m.has_final() || m.has_error()) {
    reply_end(client, tracked, m);
    state_.requests.end({client, id});
    return;
  }
  if (m.has_chunk() && !tracked->first_token_seen) {
    tracked->first_token_seen = true;
    metrics().time_to_first_token.Observe(seconds_since(tracked->submitted));
  }
  settings_.sink(client, m);
}

void Scheduler::reply_end(const std::string& client, const TrackedRequest* tracked, const wire::ServerMessage& m) {
  record_end(m, tracked);
  log_end(client, m, tracked);
  settings_.sink(client, m);
}

void Scheduler::publish_view() {
  if (!settings_.view) return;
  SchedulerView& v = *settings_.view;
  std::lock_guard lock(v.mutex);
  v.live_clients = state_.requests.clients();
  v.live_requests = state_.requests.size();
  v.kv_cache_bytes = state_.membership.kv_cache_bytes();
  v.verifiers = state_.membership.members(NodeRole::verifier).size();
  v.drafters = state_.membership.members(NodeRole::drafter).size();
  v.shards = state_.membership.members(NodeRole::shard).size();
  v.pairs.clear();
  double links[2] = {0, 0};  // nccl, zeromq
  for (const NodeInfo* verifier : state_.membership.members(NodeRole::verifier)) {
    if (verifier->partner.empty()) continue;
    v.pairs.push_back({verifier->name, verifier->partner, verifier->link.link, verifier->link.reason});
    ++links[verifier->link.link == "nccl" ? 0 : 1];
  }
  metrics().pairs("nccl").Set(links[0]);
  metrics().pairs("zeromq").Set(links[1]);
  metrics().queue_depth.Set(double(v.live_requests));
  metrics().nodes("verifier").Set(double(v.verifiers));
  metrics().nodes("drafter").Set(double(v.drafters));
  metrics().nodes("shard").Set(double(v.shards));
}

caf::actor spawn_scheduler(caf::actor_system& system, SchedulerSettings settings) {
  // The settings go in as a spawn argument rather than a lambda capture: for a spawn with
  // no arguments CAF 0.17 binds a reference to its null argument tuple (a UBSan report in
  // caf/detail/init_fun_factory.hpp, harmless as the tuple is empty, but it stops a
  // sanitized build); with one the tuple exists.
  auto init = [](caf::event_based_actor* self, SchedulerSettings settings) {
    auto scheduler = std::make_shared<Scheduler>(self, std::move(settings));
    self->attach_functor([scheduler] {});  // lives as long as the actor
    return scheduler->behavior();
  };
  return system.spawn(init, std::move(settings));
}

}  // namespace tandem
