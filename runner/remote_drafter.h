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

#include "cluster/channel.h"
#include "proto/speculation.pb.h"
#include "runner/speculation_mode.h"
#include "spec/ahead_chain.h"

namespace tandem {

/// The verifier's end of a link to one drafter process, shared by its requests (one thread).
struct RemoteDrafterLink {
  std::unique_ptr<Channel> channel;
  std::chrono::milliseconds timeout{30000};  // silence after which the drafter counts as lost
  int32_t vocab = 0;                         // the target's vocabulary, to check trees against
  bool lost = false;                         // once lost, requests draft nothing
};

/// A Drafter whose trees come from a remote DrafterService.
class RemoteDrafter : public Drafter {
 public:
  RemoteDrafter(RemoteDrafterLink& link, uint64_t request_id) : link_(link), request_id_(request_id) {}
  /// Tells the drafter to free this request's state.
  ~RemoteDrafter() override;
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;

 private:
  RemoteDrafterLink& link_;
  uint64_t request_id_;
  std::vector<int32_t> sent_;  // the context the drafter holds for this request
};

/// Answers DraftRequests with local drafters (chain or tree, per `settings`), one per request.
/// It drafts ahead while the verifier verifies (PEARL's post-verify, across processes),
/// betting that everything it sent along one branch is accepted:
/// - chain mode keeps extending the chain it sent; when the next request's context follows
///   it (all accepted, the bonus token drafted next), the answer is ready;
/// - tree mode drafts, for the context plus the sent tree's first branch, a tree one level
///   deeper; when the verifier accepted that branch and its bonus token is one of that
///   tree's first level, the subtree under it is the answer.
///
///   idle ─DraftRequest─▶ answer (from what was drafted ahead when the context follows the
///     ▲                  bet, else draft now) ─▶ drafting ahead: a token at a time (chain)
///     └─────────────── nothing left to draft ◀─┘ or one tree, between polls of the channel
class DrafterService {
 public:
  DrafterService(Transformer& draft, ModeSettings settings, int64_t max_context);
  /// Serves `channel` until `stop` is set.
  void serve(Channel& channel, const std::atomic<bool>& stop);
  /// Requests whose state it holds.
  size_t live_requests() const { return requests_.size(); }
  /// Drafts answered from the chain drafted ahead, and all drafts answered.
  size_t answered_ahead() const { return answered_ahead_; }
  size_t answered() const { return answered_; }
  /// Whether it has nothing to draft ahead (or gave up on it) and waits for a request.
  bool idle() const { return idle_; }

 private:
  // Tree mode's bet: the verifier accepts the sent tree's first branch.
  struct TreeBet {
    std::vector<int32_t> context;  // the verifier's context, then that branch ('': no bet)
    int depth = 0;                 // levels to draft for it: one more than were asked for
    TokenTree tree;                // drafted for `context`
    bool drafted = false;
  };
  struct Request {
    std::unique_ptr<Drafter> drafter;
    AheadChain chain;        // the verifier's context, and (chain mode) the drafts past it, first those last sent
    size_t ahead_limit = 0;  // how far to draft ahead
    TreeBet bet;
  };
  void answer(Channel& channel, uint64_t id, const wire::DraftRequest& r);
  // The subtree the tree bet holds for the request's context, if it won; empty otherwise.
  static TokenTree answer_from_bet(const Request& request, int max_depth);
  // Drafts ahead for the latest request (its tree bet, or one more token of its chain);
  // false when there is nothing to do.
  bool draft_ahead();
  Transformer& draft_;
  ModeSettings settings_;
  int64_t max_context_;
  std::map<uint64_t, Request> requests_;
  uint64_t latest_ = 0;  // the request drafted ahead for
  std::atomic<size_t> answered_ahead_{0}, answered_{0};
  std::atomic<bool> idle_{true};
};

}  // namespace tandem
