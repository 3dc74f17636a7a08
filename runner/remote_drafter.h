#pragma once
// Drafting in another process: the verifier's RemoteDrafter sends each request's
// context over a data channel to a DrafterService, which drafts with its own model
// and answers with a token tree. If the drafter stops answering, the verifier goes
// on alone (empty trees: plain decoding, still lossless).
//
//   verifier: RemoteDrafter ──DraftRequest(keep, new tokens)──▶ DrafterService: Drafter
//             RemoteDrafter ◀────────────TokenTree────────────── (chain or dynamic tree)
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "proto/speculation.pb.h"
#include "speculation/ahead_engine.h"
#include "speculation/mode.h"
#include "speculation/tree_drafter.h"
#include "transport/channel.h"

namespace tandem {

/// Most bytes of one frame on an NCCL drafter link (both ends reserve this much device memory
/// per frame slot): a draft request with a context of over 800k token ids.
constexpr size_t kDrafterLinkFrameBytes = size_t(4) << 20;

/// Joins the NCCL link to a drafter (rank 1) or to its verifier (rank 0) on `device`, within
/// 10 seconds. Throws std::runtime_error when it cannot (the caller falls back to ZeroMQ).
std::unique_ptr<Channel> join_nccl_drafter_link(const std::string& group_ids, int rank, const Device& device);

/// The verifier's end of a link to one drafter process, shared by its requests (one thread).
struct RemoteDrafterLink {
  std::unique_ptr<Channel> channel;
  std::chrono::milliseconds timeout{30000};   // silence after which the drafter counts as lost
  int32_t vocab = 0;                          // the target's vocabulary, to check trees against
  bool lost = false;                          // once lost, requests draft nothing
  std::set<uint64_t> awaited;                 // requests asked and not yet answered
  std::map<uint64_t, wire::TokenTree> early;  // answers that came while another was awaited
};

/// A Drafter whose trees come from a remote DrafterService.
class RemoteDrafter : public Drafter {
 public:
  RemoteDrafter(RemoteDrafterLink& link, uint64_t request_id) : link_(link), request_id_(request_id) {}
  /// Tells the drafter to free this request's state.
  ~RemoteDrafter() override;
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;
  /// Sends the request now; draft() with the same arguments then only waits for the answer.
  void prepare(const std::vector<int32_t>& context, int max_depth) override;

 private:
  // Sends the draft request for `context`; false if the link is lost.
  bool ask(const std::vector<int32_t>& context, int max_depth);
  // This request's answer (empty, and the link lost, if none comes in time).
  TokenTree await();

  RemoteDrafterLink& link_;
  uint64_t request_id_;
  std::vector<int32_t> sent_;  // the context the drafter holds for this request
  int asked_depth_ = -1;       // the depth of the request sent and not yet awaited (-1: none)
  std::chrono::steady_clock::time_point asked_at_;
};

/// Answers DraftRequests with local drafters (chain or tree, per `settings`), one per request,
/// for every verifier that reaches its channel (one drafter may serve several verifiers).
/// Requests that arrive together, from one verifier's batch or from several verifiers, are
/// drafted together: each level of their chains or trees is one forward pass for all.
/// It drafts ahead while the verifiers verify (PEARL's post-verify, across processes),
/// betting that everything it sent along one branch is accepted:
/// - chain mode keeps extending the chain it sent with the drafting-ahead engine
///   (speculation/ahead_engine), every request's chain in one forward pass per token; when
///   the next request's context follows it (all accepted, the bonus token drafted next),
///   the answer is ready;
/// - tree mode drafts, for the context plus the sent tree's first branch, a tree one level
///   deeper; when the verifier accepted that branch and its bonus token is one of that
///   tree's first level, the subtree under it is the answer.
///
///   idle ─DraftRequest─▶ answer (from what was drafted ahead when the context follows the
///     ▲                  bet, else draft now) ─▶ drafting ahead: a token at a time (chain)
///     └─────────────── nothing left to draft ◀─┘ or one tree, between polls of the channel
class DrafterService {
 public:
  /// Most requests it keeps state for; past it, the one unused the longest is forgotten.
  static constexpr size_t kMaxRequests = 1024;
  /// Most requests drafted together.
  static constexpr size_t kMaxBatch = 64;
  /// Most levels drafted for one answer: a deeper ask is cut to this.
  static constexpr int kMaxDepth = 64;

  DrafterService(Transformer& draft, ModeSettings settings, int64_t max_context);
  /// Serves the verifiers that reach `channel` until `stop` is set.
  void serve(PeerChannel& channel, const std::atomic<bool>& stop);
  /// Serves the one verifier at the other end of `channel`.
  void serve(Channel& channel, const std::atomic<bool>& stop);
  /// Requests whose state it holds.
  size_t live_requests() const { return requests_.size(); }
  /// Drafts answered from the chain drafted ahead, and all drafts answered.
  size_t answered_ahead() const { return answered_ahead_; }
  size_t answered() const { return answered_; }
  /// Whether it has nothing to draft ahead (or gave up on it) and waits for a request.
  bool idle() const { return idle_; }
  /// Most requests answered together in one round of drafting.
  size_t most_drafted_together() const { return most_together_; }

 private:
  // Tree mode's bet: the verifier accepts the sent tree's first branch.
  struct TreeBet {
    std::vector<int32_t> context;  // the verifier's context, then that branch ('': no bet)
    int depth = 0;                 // levels to draft for it: one more than were asked for
    TokenTree tree;                // drafted for `context`
    bool drafted = false;
  };
  struct Request {
    // The verifier's context and (chain mode) the drafts past it, first those last sent;
    // chain mode drafts ahead until it holds `wanted`.
    std::shared_ptr<AheadLane> lane;
    std::unique_ptr<TreeDrafter> tree_drafter;  // tree mode
    TreeBet bet;
    uint64_t last_used = 0;  // when it was last asked (a count of requests)
  };
  using Key = std::pair<std::string, uint64_t>;  // (verifier's peer id, its request id)
  struct Asked {
    std::string peer;
    wire::DraftRequest request;
    int depth = 0;             // the levels asked for, at most kMaxDepth
    Request* state = nullptr;  // null: an invalid request, answered with an empty tree
    TokenTree tree;
    bool answered = false;  // from what was drafted ahead
  };
  // Answers requests that arrived together, drafting those not drafted ahead together.
  void answer(PeerChannel& channel, std::vector<Asked>& asked);
  // The request's state brought to its new context; null if the request is invalid.
  Request* follow(const std::string& peer, const wire::DraftRequest& r, bool& follows);
  // Drafts, now and together, what was not drafted ahead.
  void draft_now(std::vector<Asked*>& jobs);
  // Sets the next bet on the answer (see above) and sends it.
  void reply(PeerChannel& channel, Asked& asked);
  // The subtree the tree bet holds for the request's context, if it won; empty otherwise.
  static TokenTree answer_from_bet(const Request& request, int max_depth);
  // Drafts ahead: a pending tree bet, else one more token of every chain short of its
  // bet, all in one forward pass; false when there is nothing to do.
  bool draft_ahead();
  // Every request's lane (for the engine).
  std::vector<std::shared_ptr<AheadLane>> lanes() const;
  Transformer& draft_;
  AheadEngine engine_;
  ModeSettings settings_;
  int64_t max_context_;
  std::map<Key, Request> requests_;
  uint64_t asked_ = 0;  // requests asked so far
  std::atomic<size_t> answered_ahead_{0}, answered_{0}, most_together_{0};
  std::atomic<bool> idle_{true};
};

}  // namespace tandem
