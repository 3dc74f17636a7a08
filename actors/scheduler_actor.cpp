#include "actors/scheduler_actor.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "actors/messages.h"
#include "membership/membership.h"
#include "membership/request_router.h"
#include "observability/log.h"
#include "observability/metrics.h"
#include "security/join_proof.h"

namespace tandem {
namespace {

struct SchedulerState {
  explicit SchedulerState(int64_t timeout_ms) : membership(timeout_ms) {}
  Membership membership;
  std::map<std::string, caf::actor> work_actors;      // node name -> where its work goes
  std::map<caf::actor_addr, std::string> node_names;  // monitored actor -> node name
  RequestRouter requests;                             // in flight, by (client, request id)
  std::string assigned_shards;                        // the KV shard list the verifiers last heard
  Challenges challenges;                              // nonces handed to joining nodes
};

// "finished" or the error code's name in lower case, as in tandem_requests_total{outcome}.
std::string outcome_of(const wire::ServerMessage& m) {
  if (!m.has_error()) return "finished";
  std::string name = wire::ErrorCode_Name(m.error().code());
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

// Latency and token figures of a request that ended.
void record_end(const wire::ServerMessage& m, const TrackedRequest* tracked) {
  Metrics& metrics = tandem::metrics();
  metrics.requests(outcome_of(m)).Increment();
  if (tracked) metrics.request_duration.Observe(seconds_since(tracked->submitted));
  if (!m.has_final()) return;
  const wire::Statistics& stats = m.final().stats();
  metrics.generated_tokens.Increment(stats.generated_tokens());
  metrics.prompt_tokens.Increment(stats.prompt_tokens());
  if (stats.generated_tokens() > 1)
    metrics.time_per_output_token.Observe(stats.decode_seconds() / double(stats.generated_tokens() - 1));
  if (tracked && !tracked->first_token_seen && stats.generated_tokens() > 0)  // not streamed: from its timings
    metrics.time_to_first_token.Observe(stats.queue_seconds() + stats.prefill_seconds() +
                                        stats.decode_seconds() / double(stats.generated_tokens()));
}

// The one line each request leaves when it ends (never its prompt or output).
void log_end(const std::string& client, const wire::ServerMessage& m, const TrackedRequest* tracked) {
  LogFields f;
  f["request"] = m.has_final() ? m.final().request_id() : m.error().request_id();
  f["client"] = client;  // "http:KEYNAME-OR-ADDRESS:N" or "zmq:[KEYNAME:]CONNECTION"
  if (tracked) f["verifier"] = tracked->verifier;
  f["outcome"] = outcome_of(m);
  if (m.has_final()) {
    const wire::Statistics& s = m.final().stats();
    f["mode"] = s.mode();
    f["finish"] = m.final().finish_reason();
    f["prompt_tokens"] = s.prompt_tokens();
    f["tokens"] = s.generated_tokens();
    f["tokens_per_pass"] = std::round(s.tokens_per_pass() * 100) / 100;
  } else {
    f["error"] = m.error().message();
  }
  if (tracked) f["latency_ms"] = std::round(seconds_since(tracked->submitted) * 1e4) / 10;
  const bool trouble = m.has_error() && (m.error().code() == wire::INTERNAL || m.error().code() == wire::UNAVAILABLE);
  log_event(trouble ? LogLevel::warn : LogLevel::info, "request", f);
}

// Two NCCL unique ids in hex and the comma between them (transport/nccl_channel.h).
constexpr size_t kNcclGroupIdsSize = 2 * 256 + 1;

wire::ServerMessage error_reply(const std::string& request_id, wire::ErrorCode code, const std::string& message) {
  wire::ServerMessage m;
  m.mutable_error()->set_request_id(request_id);
  m.mutable_error()->set_code(code);
  m.mutable_error()->set_message(message);
  return m;
}

class Scheduler {
 public:
  Scheduler(caf::event_based_actor* self, SchedulerSettings settings)
      : self_(self),
        settings_(std::move(settings)),
        state_(settings_.node_timeout_ms),
        proofs_(settings_.cluster_ca, settings_.local_secret) {}

  caf::behavior behavior() {
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
        [this](submit_atom, const std::string& client, const std::string& bytes) {
          submit(client, bytes);
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
          relay(r.verifier, r.client, r.bytes);
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
          if (const NodeInfo* node = state_.membership.find(name); node && node->role == NodeRole::shard)
            assign_shards();
        },
        [](flush_atom) { return true; },
    };
  }

 private:
  // Why `claim` is not proven by `proof` ('' when it is, or no proof is needed: a plain control plane).
  std::string unproven(const JoinClaim& claim, const std::string& proof) {
    if (settings_.cluster_ca.empty()) return "";
    if (!claim.nonce.empty() && !state_.challenges.take(claim.nonce, steady_now_ms()))
      return "the join proof answers no challenge of this scheduler's (used, or over " +
             std::to_string(Challenges::kLifetimeMs / 1000) + " s old)";
    return proofs_.check(proof, claim);
  }

  // Adds the node `r` describes to the cluster ('' ) or says why not.
  std::string join(const JoinRequest& r) {
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
    if (*role != NodeRole::drafter) admit_verifiers_on_shards();  // before the verifier hears of them
    pair_drafters();
    if (*role == NodeRole::verifier)
      send_work(name, shards_atom::value, state_.membership.shard_list());
    else if (*role == NodeRole::shard)
      assign_shards();
    publish_view();
    return "";
  }

  // Why a node's model does not fit the one served ('' when it does): a verifier must hold the
  // same model, a drafter the same vocabulary (its token ids must mean the same text).
  std::string wrong_model(NodeRole role, const std::string& model, const std::string& vocabulary) const {
    if (role == NodeRole::verifier && !settings_.model.empty() && model != settings_.model)
      return "this cluster serves " + settings_.model + ", not " + (model.empty() ? "an unnamed model" : model);
    if (role == NodeRole::drafter && !settings_.vocabulary.empty() && vocabulary != settings_.vocabulary)
      return "the drafter's vocabulary (" + (vocabulary.empty() ? "none" : vocabulary) + ") is not the target's (" +
             settings_.vocabulary + ")";
    return "";
  }

  // Drops a node that disconnected or went silent.
  void lose(const std::string& name, const std::string& why) {
    if (auto node = state_.membership.leave(name)) end_node(*node, why);
  }

  // Ends what a departed node leaves behind: a verifier's requests, a drafter's pairing.
  void end_node(const NodeInfo& node, const std::string& why) {
    log_event(LogLevel::warn, "node_lost", {{"role", role_name(node.role)}, {"name", node.name}, {"why", why}});
    if (node.role == NodeRole::verifier) {
      for (const auto& [key, tracked] : state_.requests.take_requests_on(node.name))
        reply_end(key.first, &tracked,
                  error_reply(key.second, wire::UNAVAILABLE,
                              "verifier '" + node.name + "' was lost (" + why + ") before the request finished"));
      if (!node.partner.empty()) admit_on_drafter(node.partner);  // its drafter no longer admits it
    } else if (node.role == NodeRole::drafter) {
      for (const std::string& verifier : node.verifiers)  // each goes on alone until paired again
        send_work(verifier, pair_atom::value, PairWith{});
    }
    state_.work_actors.erase(node.name);
    pair_drafters();
    if (node.role == NodeRole::shard) assign_shards();
    if (node.role == NodeRole::verifier) admit_verifiers_on_shards();
  }

  // Every shard serves every verifier, so each admits all the verifiers' data keys.
  void admit_verifiers_on_shards() {
    for (const NodeInfo* shard : state_.membership.members(NodeRole::shard))
      if (!shard->data_key.empty())
        send_work(shard->name, admit_atom::value, state_.membership.admitted_keys(shard->name));
  }

  // Every verifier may spread new requests over every live shard (a shard keeps each
  // verifier's requests apart), so the assignment is the whole list, sent on each change.
  void assign_shards() {
    const std::string list = state_.membership.shard_list();
    if (list == state_.assigned_shards) return;
    state_.assigned_shards = list;
    log_event(LogLevel::info, "shards_assigned", {{"shards", list}});
    for (const NodeInfo* verifier : state_.membership.members(NodeRole::verifier))
      send_work(verifier->name, shards_atom::value, list);
  }

  // A drafter's data channel admits the keys of the verifiers it drafts for, and no others.
  void admit_on_drafter(const std::string& drafter) {
    if (state_.membership.find(drafter))
      send_work(drafter, admit_atom::value, state_.membership.admitted_keys(drafter));
  }

  void pair_drafters() {
    for (const Pairing& p : state_.membership.pair_by_load()) {
      const NodeInfo* d = state_.membership.find(p.drafter);
      const LinkChoice& link = state_.membership.find(p.verifier)->link;
      LogFields fields = {
          {"verifier", p.verifier},        {"drafter", p.drafter}, {"drafter_verifiers", int64_t(d->verifiers.size())},
          {"curve", !d->data_key.empty()}, {"link", link.link},    {"link_reason", link.reason}};
      if (!p.previous.empty()) fields["moved_from"] = p.previous;
      log_event(LogLevel::info, "drafter_paired", fields);
      // The drafter admits the verifier's key before the verifier connects with the drafter's.
      admit_on_drafter(p.drafter);
      if (link.link == "nccl")
        form_nccl_link(p.verifier, p.drafter);
      else
        send_work(p.verifier, pair_atom::value, PairWith{d->data_endpoint, d->data_key, ""});
      if (!p.previous.empty()) admit_on_drafter(p.previous);
    }
  }

  // Asks the verifier for the new link's ids, hands them to the drafter (rank 1), then pairs
  // the verifier (rank 0) with them. Any failure: the pair uses ZeroMQ, and says why.
  void form_nccl_link(const std::string& verifier, const std::string& drafter) {
    auto work = state_.work_actors.find(verifier);
    if (work == state_.work_actors.end()) return;
    auto paired = [this, verifier, drafter] {
      const NodeInfo* v = state_.membership.find(verifier);
      return v && v->partner == drafter && v->link.link == "nccl" ? state_.membership.find(drafter) : nullptr;
    };
    auto fall_back = [this, verifier, paired](const std::string& why) {
      const NodeInfo* d = paired();
      if (!d || !state_.membership.fall_back_to_zeromq(verifier, why)) return;
      log_event(LogLevel::warn, "nccl_link_failed", {{"verifier", verifier}, {"drafter", d->name}, {"why", why}});
      send_work(verifier, pair_atom::value, PairWith{d->data_endpoint, d->data_key, ""});
      publish_view();
    };
    self_->request(work->second, std::chrono::seconds(10), group_atom::value)
        .then(
            [this, verifier, paired, fall_back](const std::string& ids) {
              if (ids.size() != kNcclGroupIdsSize) return fall_back("the verifier's link ids are malformed");
              const NodeInfo* d = paired();
              if (!d) return;  // paired otherwise meanwhile
              send_work(d->name, group_atom::value, verifier, ids);
              send_work(verifier, pair_atom::value, PairWith{d->data_endpoint, d->data_key, ids});
            },
            [this, fall_back](caf::error& e) {
              const std::string why = failure_reason(e, self_->system());
              fall_back(is_cluster_error(e, cluster_error::no_link) ? "the verifier cannot make one: " + why
                                                                    : "no link ids from the verifier: " + why);
            });
  }

  void submit(const std::string& client, const std::string& bytes) {
    wire::SubmitRequest request;
    if (!request.ParseFromString(bytes)) return;  // the frontend parsed it already
    const RequestKey key{client, request.request_id()};
    const Route route = state_.requests.route(key, state_.membership, std::chrono::steady_clock::now());
    if (route.refusal == Route::Refusal::duplicate_id)
      reply_end(client, nullptr,
                error_reply(key.second, wire::INVALID_ARGUMENT, "request id '" + key.second + "' is already in use"));
    else if (route.refusal == Route::Refusal::no_verifier)
      reply_end(client, nullptr,
                error_reply(key.second, wire::UNAVAILABLE, "no verifier has joined the cluster (or all are draining)"));
    else
      send_work(route.verifier, submit_atom::value, client, bytes);
  }

  // Passes a verifier's reply on if that verifier still owns the request.
  void relay(const std::string& verifier, const std::string& client, const std::string& bytes) {
    wire::ServerMessage m;
    if (!m.ParseFromString(bytes)) return;
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

  // Sends a request's last message and records how it ended.
  void reply_end(const std::string& client, const TrackedRequest* tracked, const wire::ServerMessage& m) {
    record_end(m, tracked);
    log_end(client, m, tracked);
    settings_.sink(client, m);
  }

  template <typename... Ts>
  void send_work(const std::string& node, Ts&&... xs) {
    auto it = state_.work_actors.find(node);
    if (it != state_.work_actors.end()) self_->send(it->second, std::forward<Ts>(xs)...);
  }

  void publish_view() {
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

  caf::event_based_actor* self_;
  SchedulerSettings settings_;
  SchedulerState state_;
  JoinProofChecker proofs_;
};

}  // namespace

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
