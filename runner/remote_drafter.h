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
/// Chain mode drafts ahead while the verifier verifies (PEARL's post-verify, across
/// processes): after answering, it keeps extending the chain it sent, betting that all of
/// it is accepted; when the next request's context follows that bet, the answer is ready.
///
///   idle ─DraftRequest─▶ answer (from the drafted-ahead chain when the context follows it,
///     ▲                  else draft now) ─▶ drafting ahead, one token at a time,
///     └──────────── ahead limit reached ◀─┘  between polls of the channel
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
  struct Request {
    std::unique_ptr<Drafter> drafter;
    AheadChain chain;        // the verifier's context, and (chain mode) the drafts past it, first those last sent
    size_t ahead_limit = 0;  // how far to draft ahead
  };
  void answer(Channel& channel, uint64_t id, const wire::DraftRequest& r);
  // Drafts one more token ahead for the latest request; false when there is nothing to do.
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
