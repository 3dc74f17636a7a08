#pragma once
// Drafters propose trees of tokens that may continue a context. One interface,
// chosen per request; the verifier decides what is kept.
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "model/sampler.h"
#include "model/transformer.h"
#include "speculation/draft_model_cache.h"
#include "speculation/token_tree.h"

namespace tandem {

/// Draw number `draw` of a drafter's random stream for a request seeded `seed`: apart
/// from the verifier's streams (whose decisions must not depend on the drafts).
double drafter_uniform(uint64_t seed, int64_t draw);

/// Proposes continuations of a context.
class Drafter {
 public:
  virtual ~Drafter() = default;
  /// A tree continuing `context` (every token so far, prompt and output), at most
  /// `max_depth` levels deep; may be empty.
  virtual TokenTree draft(const std::vector<int32_t>& context, int max_depth) = 0;
  /// Says that draft(context, max_depth) comes next. A drafter in another process asks for it
  /// at once, so that the drafts of a whole batch are asked for before any is awaited (and
  /// drafted there together).
  virtual void prepare(const std::vector<int32_t>& /*context*/, int /*max_depth*/) {}
  /// After each verifier pass: the tokens it ran and the target's logits after each
  /// ([tokens.size()][vocab]). Drafters that learn from the target override this.
  virtual void observe(const std::vector<int32_t>& /*tokens*/, const float* /*logits*/, int32_t /*vocab*/) {}
  /// After each verifier pass: the depth of the tree it verified and how many of its
  /// tokens were accepted. Drafters that choose their own depth (AutoDrafter) learn from it.
  virtual void learn(int /*drafted_depth*/, int /*accepted*/) {}
  /// Before each draft: how many tokens the request may still produce.
  virtual void expect_remaining(int64_t /*tokens*/) {}
  /// Tokens of `context` the drafter has not run yet and would run before drafting (a
  /// draft model catching its cache up); 0 for drafters without a model.
  virtual int64_t unseen_tokens(const std::vector<int32_t>& /*context*/) const { return 0; }
  /// A model drafter notes, from context position `position` on, what it would have drafted
  /// at each token it runs while catching up (DraftModelCache::guess_from); others ignore it.
  virtual void guess_from(int64_t /*position*/) {}
  /// The guesses noted since the last call, by position.
  virtual std::vector<Guess> take_guesses() { return {}; }
  /// How the request samples. With a temperature, model drafters draw their drafts from
  /// their own distribution under the same temperature, top-k and top-p and attach it
  /// to the tree (TokenTree::set_proposal); greedy requests (the default) get their top
  /// choices. Drafters without a model keep proposing deterministic guesses.
  virtual void sample_with(const SamplingParams& params) { sampling_ = params; }

 protected:
  bool sampling() const { return sampling_.temperature > 0.0f; }
  /// The next number of the drafter's own random stream (drafter_uniform), never reused.
  double next_uniform() { return drafter_uniform(sampling_.seed, draws_++); }

  SamplingParams sampling_;
  int64_t draws_ = 0;
};

/// What a model drafter draws from after `logits`: the request's sampling distribution,
/// cut to its kMaxProposalTokens most likely tokens (any q keeps the output exact; the
/// cut only bounds its size).
Proposal draft_proposal(const float* logits, int32_t vocab, const SamplingParams& params);

/// `k` distinct tokens drawn one after another from q, each from what the earlier ones
/// left (so in the order the verifier must try them); fewer if q holds fewer tokens.
std::vector<int32_t> draw_distinct(const Proposal& q, int k, const std::function<double()>& uniform);

/// q's probability of `token` (0 when q does not hold it).
float proposal_probability(const Proposal& q, int32_t token);

/// A draft model proposing a chain: its greedy choices, or for a sampled request tokens
/// drawn from its own distribution (attached to the tree). It keeps its own KV cache
/// in step with the context (DraftModelCache), so each call pays only for new tokens.
class ChainDrafter : public Drafter {
 public:
  /// `draft_model` drafts `length` tokens per call; its cache holds up to max_context positions.
  ChainDrafter(Transformer& draft_model, int length, int64_t max_context);
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;
  int64_t unseen_tokens(const std::vector<int32_t>& context) const override;
  void guess_from(int64_t position) override { cache_.guess_from(position); }
  std::vector<Guess> take_guesses() override { return cache_.take_guesses(); }
  /// draft() for several requests' drafters (of one draft model) at once: each level of
  /// their chains is one forward pass for all of them. The same chains as one at a time.
  static std::vector<TokenTree> draft_together(std::span<ChainDrafter* const> drafters,
                                               std::span<const std::vector<int32_t>* const> contexts,
                                               std::span<const int> max_depths);

 private:
  DraftModelCache cache_;
  int length_;
};

/// Prompt lookup: when the context's last n tokens (n from max_ngram down to 1) appeared
/// before, propose the tokens that followed them, up to `length` deep. The latest
/// occurrence gives the first branch; where earlier occurrences continue differently,
/// they add branches (a tree sharing common prefixes) while the tree holds fewer than
/// 2 * length tokens, at most kMaxBranches. No model.
class PromptLookupDrafter : public Drafter {
 public:
  static constexpr int kMaxBranches = 4;
  PromptLookupDrafter(int max_ngram, int length) : max_ngram_(max_ngram), length_(length) {}
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;

 private:
  int max_ngram_;
  int length_;
};

/// Token recycling: remembers, for each token the target has run, the target's top
/// candidates for the token after it (an adjacency list, kept only for tokens seen), and
/// drafts by following it from the last context token: `width` first-level candidates,
/// each continued by its own best candidate down to `depth` levels.
class RecyclingDrafter : public Drafter {
 public:
  static constexpr int kCandidates = 4;  // remembered successors per token
  RecyclingDrafter(int width, int depth) : width_(std::min(width, kCandidates)), depth_(depth) {}
  TokenTree draft(const std::vector<int32_t>& context, int max_depth) override;
  void observe(const std::vector<int32_t>& tokens, const float* logits, int32_t vocab) override;
  /// Bytes of remembered candidates.
  size_t state_bytes() const { return next_.size() * sizeof(std::array<int32_t, kCandidates>); }

 private:
  int width_, depth_;
  std::unordered_map<int32_t, std::array<int32_t, kCandidates>> next_;
};

}  // namespace tandem
