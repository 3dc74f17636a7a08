#include "runner/remote_drafter.h"

#include "observability/metrics.h"
#include "proto/tree_wire.h"
#include "transport/nccl_channel.h"

namespace tandem {

RemoteDrafter::~RemoteDrafter() {
  link_.awaited.erase(request_id_);
  link_.early.erase(request_id_);
  if (link_.lost || sent_.empty()) return;
  wire::DrafterMessage m;
  m.mutable_release()->set_request_id(request_id_);
  send_message(*link_.channel, m);
}

void RemoteDrafter::prepare(const std::vector<int32_t>& context, int max_depth) {
  if (link_.lost || max_depth <= 0 || context.empty() || asked_depth_ >= 0) return;
  if (ask(context, max_depth)) asked_depth_ = max_depth;
}

TokenTree RemoteDrafter::draft(const std::vector<int32_t>& context, int max_depth) {
  if (asked_depth_ >= 0 && (asked_depth_ != max_depth || sent_ != context)) {
    await();  // asked for something else: that answer is dropped
    asked_depth_ = -1;
  }
  if (link_.lost || max_depth <= 0 || context.empty()) return {};
  if (asked_depth_ < 0 && !ask(context, max_depth)) return {};
  asked_depth_ = -1;
  return await();
}

bool RemoteDrafter::ask(const std::vector<int32_t>& context, int max_depth) {
  size_t keep = 0;
  while (keep < sent_.size() && keep < context.size() && sent_[keep] == context[keep]) ++keep;
  wire::DrafterMessage m;
  wire::DraftRequest* r = m.mutable_draft();
  r->set_request_id(request_id_);
  r->set_keep(int32_t(keep));
  for (size_t i = keep; i < context.size(); ++i) r->add_tokens(context[i]);
  r->set_max_depth(max_depth);
  if (sampling()) *r->mutable_sampling() = sampling_to_wire(sampling_);
  asked_at_ = std::chrono::steady_clock::now();
  link_.early.erase(request_id_);
  if (!send_message(*link_.channel, m)) {
    link_.lost = true;
    return false;
  }
  link_.awaited.insert(request_id_);
  metrics().channel_bytes("drafter", "sent").Increment(double(m.ByteSizeLong()));
  sent_ = context;
  return true;
}

TokenTree RemoteDrafter::await() {
  try {
    const auto deadline = std::chrono::steady_clock::now() + link_.timeout;
    while (!link_.lost) {
      wire::TokenTree reply;
      if (auto early = link_.early.find(request_id_); early != link_.early.end()) {
        reply = std::move(early->second);
        link_.early.erase(early);
      } else {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !receive_message(*link_.channel, reply, left)) break;
        metrics().channel_bytes("drafter", "received").Increment(double(reply.ByteSizeLong()));
      }
      if (reply.request_id() == request_id_) {
        link_.awaited.erase(request_id_);
        metrics().channel_latency("drafter").Observe(seconds_since(asked_at_));
        return tree_from_wire(reply, link_.vocab);
      }
      // Another request's answer: kept for it if it still waits, else dropped.
      if (link_.awaited.count(reply.request_id())) link_.early[reply.request_id()] = std::move(reply);
    }
  } catch (const std::invalid_argument&) {
    // A drafter that sends garbage is as good as gone.
  }
  link_.awaited.erase(request_id_);
  link_.lost = true;  // silent or broken: the verifier carries on alone
  return {};
}

std::unique_ptr<Channel> join_nccl_drafter_link(const std::string& group_ids, int rank, const Device& device) {
  if (device.kind != Device::Kind::Cuda) throw std::runtime_error("this end runs on the CPU");
  NcclLinkSettings settings;
  settings.device = device.index;
  settings.rank = rank;
  settings.group_ids = group_ids;
  settings.max_frame_bytes = kDrafterLinkFrameBytes;
  return NcclChannel::join(settings);
}

DrafterService::DrafterService(Transformer& draft, ModeSettings settings, int64_t max_context)
    : draft_(draft), engine_(draft, max_context), settings_(std::move(settings)), max_context_(max_context) {
  if (settings_.mode == Mode::tree) ++settings_.draft_tokens;  // room for the tree bet's extra level
}

namespace {

// A channel's one peer, as a PeerChannel (its id is '').
class OnePeer : public PeerChannel {
 public:
  explicit OnePeer(Channel& channel) : channel_(channel) {}
  bool send(const std::string&, std::string_view frame) override { return channel_.send(frame); }
  std::optional<std::pair<std::string, std::string>> receive(std::chrono::milliseconds timeout) override {
    auto frame = channel_.receive(timeout);
    if (!frame) return std::nullopt;
    return std::make_pair(std::string(), std::move(*frame));
  }

 private:
  Channel& channel_;
};

}  // namespace

void DrafterService::serve(Channel& channel, const std::atomic<bool>& stop) {
  OnePeer peer(channel);
  serve(peer, stop);
}

void DrafterService::serve(PeerChannel& channel, const std::atomic<bool>& stop) {
  bool busy = false;  // drafting ahead: poll the channel without waiting
  Metrics& meter = metrics();
  while (!stop) {
    auto start = std::chrono::steady_clock::now();
    // The first message, then whatever else has come: requests that arrive together (one
    // verifier's batch, or several verifiers') are drafted together.
    std::vector<Asked> asked;
    for (auto wait = std::chrono::milliseconds(busy ? 0 : 100); asked.size() < kMaxBatch;
         wait = std::chrono::milliseconds(0)) {
      auto frame = channel.receive(wait);
      if (!frame) break;
      wire::DrafterMessage m;
      if (!m.ParseFromString(frame->second)) continue;  // not ours: ignore the frame
      if (m.has_release())
        requests_.erase({frame->first, m.release().request_id()});
      else if (m.has_draft()) {
        Asked& a = asked.emplace_back();
        a.peer = frame->first;
        a.request = m.draft();
      }
    }
    meter.drafter_idle.Increment(seconds_since(start));
    start = std::chrono::steady_clock::now();
    if (asked.empty()) {
      busy = draft_ahead();
      idle_ = !busy;
    } else {
      answer(channel, asked);
      busy = true;
    }
    meter.drafter_busy.Increment(seconds_since(start));
  }
}

DrafterService::Request* DrafterService::follow(const std::string& peer, const wire::DraftRequest& r, bool& follows) {
  const int32_t vocab = draft_.model().config().vocab_size;
  bool valid = r.keep() >= 0 && r.tokens_size() <= max_context_;
  for (int32_t t : r.tokens()) valid = valid && t >= 0 && t < vocab;
  SamplingParams sampling;
  if (valid) try {
      sampling = sampling_from_wire(r.sampling());
    } catch (const std::invalid_argument&) { valid = false; }
  if (!valid) return nullptr;
  auto it = requests_.find({peer, r.request_id()});
  if (it == requests_.end()) {
    if (requests_.size() >= kMaxRequests)  // a verifier that never releases: forget the oldest
      requests_.erase(std::min_element(requests_.begin(), requests_.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      }));
    it = requests_.emplace(Key{peer, r.request_id()}, Request{}).first;
    it->second.lane = std::make_shared<AheadLane>();
    if (settings_.mode == Mode::tree)
      it->second.tree_drafter =
          std::make_unique<TreeDrafter>(draft_, settings_.tree, settings_.draft_tokens, max_context_);
  }
  Request& request = it->second;
  request.last_used = ++asked_;
  AheadLane& lane = *request.lane;
  const size_t context = size_t(r.keep()) + size_t(r.tokens_size());
  if (size_t(r.keep()) > lane.chain.context().size() || context == 0 || context > size_t(max_context_)) return nullptr;
  lane.sampling = sampling;
  lane.done = false;  // a new context: worth another try
  if (request.tree_drafter) request.tree_drafter->sample_with(sampling);
  // Did the verifier accept everything drafted, and its bonus token match the next one drafted ahead?
  follows = lane.chain.move_to(size_t(r.keep()), std::span(r.tokens().data(), size_t(r.tokens_size())));
  return &request;
}

void DrafterService::answer(PeerChannel& channel, std::vector<Asked>& asked) {
  idle_ = false;  // before the replies go out: it will draft ahead next
  // A request asked twice in one round (a verifier never does): the last ask counts, the
  // earlier ones get empty trees.
  std::set<Key> latest;
  std::vector<bool> superseded(asked.size());
  for (size_t i = asked.size(); i-- > 0;)
    superseded[i] = !latest.insert({asked[i].peer, asked[i].request.request_id()}).second;
  std::vector<Asked*> to_draft;
  for (size_t i = 0; i < asked.size(); ++i) {
    Asked& a = asked[i];
    if (superseded[i]) continue;
    bool follows = false;
    a.state = follow(a.peer, a.request, follows);
    if (!a.state) continue;
    a.depth = std::clamp(a.request.max_depth(), 0, kMaxDepth);
    const AheadChain& chain = a.state->lane->chain;
    if (follows && chain.size() > 0)
      a.tree = chain.chain(a.depth);
    else
      a.tree = answer_from_bet(*a.state, a.depth);
    a.answered = !a.tree.empty();
    if (a.answered)
      ++answered_ahead_;
    else
      to_draft.push_back(&a);
  }
  draft_now(to_draft);
  most_together_ = std::max<size_t>(most_together_, to_draft.size());
  for (Asked& a : asked) reply(channel, a);
}

void DrafterService::draft_now(std::vector<Asked*>& jobs) {
  if (settings_.mode == Mode::chain) {
    std::vector<std::shared_ptr<AheadLane>> lanes;
    for (Asked* a : jobs) {
      a->state->lane->wanted = size_t(std::min(a->depth, settings_.draft_tokens));
      lanes.push_back(a->state->lane);
    }
    engine_.fill(lanes);  // what a lane could not draft (its context is full) stays undrafted
    for (Asked* a : jobs) a->tree = a->state->lane->chain.chain(a->depth);
    return;
  }
  std::vector<TreeDrafter*> drafters;
  std::vector<const std::vector<int32_t>*> contexts;
  std::vector<int> depths;
  for (Asked* a : jobs) {
    drafters.push_back(a->state->tree_drafter.get());
    contexts.push_back(&a->state->lane->chain.context());
    depths.push_back(a->depth);
  }
  try {
    std::vector<TokenTree> trees = TreeDrafter::draft_together(drafters, contexts, depths);
    for (size_t i = 0; i < jobs.size(); ++i) jobs[i]->tree = std::move(trees[i]);
  } catch (const std::exception&) {
    // Could not draft (a context is full): empty trees, the verifiers decode those passes alone.
    for (Asked* a : jobs) a->tree = TokenTree();
  }
}

void DrafterService::reply(PeerChannel& channel, Asked& a) {
  const uint64_t id = a.request.request_id();
  if (!a.state) {
    wire::TokenTree empty;
    empty.set_request_id(id);
    channel.send(a.peer, empty.SerializeAsString());
    return;
  }
  Request& request = *a.state;
  const TokenTree& tree = a.tree;
  const AheadChain& chain = request.lane->chain;
  // Bet that all of it is accepted: draft the bonus token's guess and a next chain ahead,
  // or (tree mode) a tree for the context after the first branch.
  request.lane->wanted = settings_.mode == Mode::chain ? size_t(tree.size() + 1 + a.depth) : 0;
  request.bet = TreeBet();
  if (settings_.mode == Mode::tree && !tree.empty()) {
    request.bet.context = chain.context();
    for (int32_t node = tree.children(-1).front();; node = tree.children(node).front()) {
      request.bet.context.push_back(tree[node].token);
      if (tree.children(node).empty()) break;
    }
    request.bet.depth = a.depth + 1;
  }
  channel.send(a.peer, tree_to_wire(tree, id, int64_t(chain.context().size())).SerializeAsString());
  ++answered_;
}

TokenTree DrafterService::answer_from_bet(const Request& request, int max_depth) {
  const TreeBet& bet = request.bet;
  const std::vector<int32_t>& context = request.lane->chain.context();
  if (!bet.drafted || context.size() != bet.context.size() + 1 ||
      !std::equal(bet.context.begin(), bet.context.end(), context.begin()))
    return {};
  for (int32_t node : bet.tree.children(-1))
    if (bet.tree[node].token == context.back()) return bet.tree.subtree(node, max_depth);
  return {};
}

std::vector<std::shared_ptr<AheadLane>> DrafterService::lanes() const {
  std::vector<std::shared_ptr<AheadLane>> lanes;
  for (const auto& [key, request] : requests_) lanes.push_back(request.lane);
  return lanes;
}

bool DrafterService::draft_ahead() {
  for (auto& [key, request] : requests_) {
    TreeBet& bet = request.bet;
    if (bet.context.empty() || bet.drafted) continue;
    bet.drafted = true;
    if (int64_t(bet.context.size()) + bet.depth + 1 >= max_context_) return true;
    // Twice the budget: the answer is the part under one first-level node. Drafting
    // costs a pass per level either way; the budget only chooses among the candidates.
    TreeDrafter& drafter = *request.tree_drafter;
    drafter.set_budget(2 * settings_.tree.budget);
    try {
      bet.tree = drafter.draft(bet.context, bet.depth);
    } catch (const std::exception&) {
      bet.tree = TokenTree();  // nothing drafted ahead: the next answer is drafted then
    }
    drafter.set_budget(settings_.tree.budget);
    return true;
  }
  // One more token of every chain short of its bet, in one forward pass.
  return engine_.step(lanes());
}

}  // namespace tandem
