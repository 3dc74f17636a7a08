#include "runner/remote_drafter.h"

#include "cluster/metrics.h"
#include "spec/tree_drafter.h"
#include "spec/tree_wire.h"

namespace tandem {

RemoteDrafter::~RemoteDrafter() {
  if (link_.lost || sent_.empty()) return;
  wire::DrafterMessage m;
  m.mutable_release()->set_request_id(request_id_);
  send_message(*link_.channel, m);
}

TokenTree RemoteDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  if (link_.lost || max_depth <= 0 || context.empty()) return {};
  size_t keep = 0;
  while (keep < sent_.size() && keep < context.size() && sent_[keep] == context[keep]) ++keep;
  wire::DrafterMessage m;
  wire::DraftRequest* r = m.mutable_draft();
  r->set_request_id(request_id_);
  r->set_keep(int32_t(keep));
  for (size_t i = keep; i < context.size(); ++i) r->add_tokens(context[i]);
  r->set_max_depth(max_depth);
  if (sampling()) *r->mutable_sampling() = sampling_to_wire(sampling_);
  const auto asked = std::chrono::steady_clock::now();
  if (!send_message(*link_.channel, m)) {
    link_.lost = true;
    return {};
  }
  metrics().channel_bytes("drafter", "sent").Increment(double(m.ByteSizeLong()));
  sent_ = context;
  try {
    const auto deadline = std::chrono::steady_clock::now() + link_.timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wire::TokenTree reply;
      if (left.count() <= 0 || !receive_message(*link_.channel, reply, left)) break;
      metrics().channel_bytes("drafter", "received").Increment(double(reply.ByteSizeLong()));
      if (reply.request_id() == request_id_) {
        metrics().channel_latency("drafter").Observe(seconds_since(asked));
        return tree_from_wire(reply, link_.vocab);
      }
      // An answer another request gave up waiting for: skip it.
    }
  } catch (const std::invalid_argument&) {
    // A drafter that sends garbage is as good as gone.
  }
  link_.lost = true;  // silent or broken: the verifier carries on alone
  return {};
}

DrafterService::DrafterService(Transformer& draft, ModeSettings settings, int64_t max_context)
    : draft_(draft), settings_(std::move(settings)), max_context_(max_context) {
  if (settings_.mode == "tree") ++settings_.draft_tokens;  // room for the tree bet's extra level
}

void DrafterService::serve(Channel& channel, const std::atomic<bool>& stop) {
  bool busy = false;  // drafting ahead: poll the channel without waiting
  Metrics& meter = metrics();
  while (!stop) {
    wire::DrafterMessage m;
    auto start = std::chrono::steady_clock::now();
    try {
      const bool got = receive_message(channel, m, std::chrono::milliseconds(busy ? 0 : 100));
      meter.drafter_idle.Increment(seconds_since(start));
      start = std::chrono::steady_clock::now();
      if (!got) {
        busy = draft_ahead();
        idle_ = !busy;
        meter.drafter_busy.Increment(seconds_since(start));
        continue;
      }
    } catch (const std::invalid_argument&) {
      continue;  // not ours: ignore the frame
    }
    if (m.has_release()) {
      requests_.erase(m.release().request_id());
      continue;
    }
    answer(channel, m.draft().request_id(), m.draft());
    meter.drafter_busy.Increment(seconds_since(start));
    busy = true;
  }
}

void DrafterService::answer(Channel& channel, uint64_t id, const wire::DraftRequest& r) {
  idle_ = false;  // before the reply goes out: it will draft ahead next
  Request& request = requests_[id];
  if (!request.drafter) request.drafter = make_drafter(settings_, &draft_, max_context_);
  latest_ = id;
  wire::TokenTree reply;
  reply.set_request_id(id);
  const int32_t vocab = draft_.model().config().vocab_size;
  bool valid = r.keep() >= 0 && size_t(r.keep()) <= request.chain.context().size();
  for (int32_t t : r.tokens()) valid = valid && t >= 0 && t < vocab;
  if (valid) try {
      request.drafter->sample_with(sampling_from_wire(r.sampling()));
    } catch (const std::invalid_argument&) { valid = false; }
  if (!valid || (size_t(r.keep()) + size_t(r.tokens_size()) == 0)) {
    send_message(channel, reply);
    return;
  }
  // Did the verifier accept everything drafted, and its bonus token match the next one drafted ahead?
  const bool follows = request.chain.move_to(size_t(r.keep()), std::span(r.tokens().data(), size_t(r.tokens_size())));
  TokenTree tree;
  if (follows && request.chain.size() > 0) {
    ++answered_ahead_;
    tree = request.chain.chain(r.max_depth());
  } else if (tree = answer_from_bet(request, r.max_depth()); !tree.empty()) {
    ++answered_ahead_;
  } else {
    try {
      tree = request.drafter->draft(request.chain.context(), r.max_depth());
    } catch (const std::exception&) {
      tree = TokenTree();  // could not draft (its context is full): an empty tree
    }
    if (settings_.mode == "chain") request.chain.push_chain(tree);
  }
  // Bet that all of it is accepted: draft the bonus token's guess and a next chain ahead,
  // or (tree mode) a tree for the context after the first branch.
  request.ahead_limit = settings_.mode == "chain" ? size_t(tree.size() + 1 + r.max_depth()) : 0;
  request.bet = TreeBet();
  if (settings_.mode == "tree" && !tree.empty()) {
    request.bet.context = request.chain.context();
    for (int32_t node = tree.children(-1).front();; node = tree.children(node).front()) {
      request.bet.context.push_back(tree[node].token);
      if (tree.children(node).empty()) break;
    }
    request.bet.depth = r.max_depth() + 1;
  }
  reply = tree_to_wire(tree, id, int64_t(request.chain.context().size()), 0);
  send_message(channel, reply);
  ++answered_;
}

TokenTree DrafterService::answer_from_bet(const Request& request, int max_depth) {
  const TreeBet& bet = request.bet;
  const std::vector<int32_t>& context = request.chain.context();
  if (!bet.drafted || context.size() != bet.context.size() + 1 ||
      !std::equal(bet.context.begin(), bet.context.end(), context.begin()))
    return {};
  for (int32_t node : bet.tree.children(-1))
    if (bet.tree[node].token == context.back()) return bet.tree.subtree(node, max_depth);
  return {};
}

bool DrafterService::draft_ahead() {
  auto it = requests_.find(latest_);
  if (it == requests_.end()) return false;
  Request& request = it->second;
  if (TreeBet& bet = request.bet; !bet.context.empty() && !bet.drafted) {
    bet.drafted = true;
    if (int64_t(bet.context.size()) + bet.depth + 1 >= max_context_) return false;
    // Twice the budget: the answer is the part under one first-level node. Drafting
    // costs a pass per level either way; the budget only chooses among the candidates.
    auto* tree_drafter = dynamic_cast<TreeDrafter*>(request.drafter.get());
    if (tree_drafter) tree_drafter->set_budget(2 * settings_.tree.budget);
    try {
      bet.tree = request.drafter->draft(bet.context, bet.depth);
    } catch (const std::exception&) {
      bet.tree = TokenTree();  // nothing drafted ahead: the next answer is drafted then
    }
    if (tree_drafter) tree_drafter->set_budget(settings_.tree.budget);
    return true;
  }
  if (request.chain.size() >= request.ahead_limit) return false;
  const std::vector<int32_t> context = request.chain.drafting_context();
  if (int64_t(context.size()) + 2 >= max_context_) return false;
  try {
    TokenTree next = request.drafter->draft(context, 1);
    if (next.empty()) return false;
    request.chain.push_chain(next);
  } catch (const std::exception&) {
    request.ahead_limit = 0;  // the context is full: stop drafting ahead
    return false;
  }
  return true;
}

}  // namespace tandem
