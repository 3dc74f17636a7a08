// Pairing drafters with verifiers (forming an NCCL link where both ends allow one) and
// handing the KV shards out: the scheduler's part that follows membership changes.
//
//   pair_drafters ─▶ (admit, keys) ─▶ drafter ─▶ true ─▶ nccl? ─ no ──▶ (pair, drafter's endpoint) ─▶ verifier
//                         └─ yes ─▶ (group) ─▶ verifier ─▶ ids ─▶ (group, ids) ─▶ drafter, (pair, ids) ─▶ verifier
//                                    malformed, an error or 10 s of silence ─▶ fall back to ZeroMQ, saying why
#include "actors/scheduler.h"
#include "observability/log.h"

namespace tandem {
namespace {

// Two NCCL unique ids in hex and the comma between them (transport/nccl_channel.h).
constexpr size_t kNcclGroupIdsSize = 2 * 256 + 1;

}  // namespace

void Scheduler::admit_keys(const std::string& node, std::function<void()> then) {
  auto it = state_.work_actors.find(node);
  if (it == state_.work_actors.end()) return;
  // Whatever the answer (a node that died says nothing), `then` runs: heartbeats sort the rest out.
  auto done = [then = std::move(then)] {
    if (then) then();
  };
  self_->request(it->second, std::chrono::seconds(10), admit_atom::value, state_.membership.admitted_keys(node))
      .then([done](bool) { done(); }, [done](caf::error&) { done(); });
}

void Scheduler::admit_verifiers_on_shards(std::function<void()> then) {
  std::vector<std::string> shards;
  for (const NodeInfo* shard : state_.membership.members(NodeRole::shard))
    if (!shard->data_key.empty()) shards.push_back(shard->name);
  if (shards.empty()) {
    if (then) then();
    return;
  }
  // `then` once every shard has answered: the last answer runs it.
  auto waiting = std::make_shared<size_t>(shards.size());
  for (const std::string& shard : shards)
    admit_keys(shard, [waiting, then] {
      if (--*waiting == 0 && then) then();
    });
}

void Scheduler::assign_shards() {
  const std::string list = state_.membership.shard_list();
  if (list == state_.assigned_shards) return;
  state_.assigned_shards = list;
  log_event(LogLevel::info, "shards_assigned", {{"shards", list}});
  for (const NodeInfo* verifier : state_.membership.members(NodeRole::verifier))
    send_work(verifier->name, shards_atom::value, list);
}

void Scheduler::pair_drafters() {
  for (const Pairing& p : state_.membership.pair_by_load()) {
    const NodeInfo* d = state_.membership.find(p.drafter);
    const LinkChoice& link = state_.membership.find(p.verifier)->link;
    LogFields fields = {
        {"verifier", p.verifier},        {"drafter", p.drafter}, {"drafter_verifiers", int64_t(d->verifiers.size())},
        {"curve", !d->data_key.empty()}, {"link", link.link},    {"link_reason", link.reason}};
    if (!p.previous.empty()) fields["moved_from"] = p.previous;
    log_event(LogLevel::info, "drafter_paired", fields);
    // The drafter admits the verifier's key, and says so, before the verifier connects
    // with the drafter's: a handshake refused meanwhile would lose the first drafts asked.
    const bool nccl = link.link == "nccl";
    admit_keys(p.drafter, [this, verifier = p.verifier, drafter = p.drafter, nccl] {
      const NodeInfo* v = state_.membership.find(verifier);
      const NodeInfo* d = state_.membership.find(drafter);
      if (!v || !d || v->partner != drafter) return;  // paired otherwise meanwhile
      if (nccl)
        form_nccl_link(verifier, drafter);
      else
        send_work(verifier, pair_atom::value, PairWith{d->data_endpoint, d->data_key, ""});
    });
    if (!p.previous.empty()) admit_keys(p.previous);
  }
}

void Scheduler::form_nccl_link(const std::string& verifier, const std::string& drafter) {
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

}  // namespace tandem
