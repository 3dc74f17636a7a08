#pragma once
// A draft model's KV cache kept in step with a request's context between calls.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "model/kv_cache.h"
#include "model/transformer.h"

namespace tandem {

/// What a draft model would have drafted at a context position it caught up on: its
/// greedy choice there, given the context before it.
struct Guess {
  int64_t position;
  int32_t token;
};

/// Holds a draft model's cache of some context and the logits after its last token.
/// Each sync() keeps the longest prefix shared with the new context and computes the
/// rest, so a drafter pays only for tokens it has not seen.
class DraftModelCache {
 public:
  static constexpr int kMaxGuesses = 16;  // most guesses kept per sync (each costs a classifier row)

  /// A cache of `draft_model` for up to `max_context` positions.
  DraftModelCache(Transformer& draft_model, int64_t max_context);

  /// Brings the cache to `context` (not empty) and returns the logits after its last token ([vocab]).
  const std::vector<float>& sync(const std::vector<int32_t>& context);
  /// Appends `token` (a choice made from the current logits) and returns the logits after it.
  const std::vector<float>& append(int32_t token);
  /// sync() for several caches of one draft model at once (a drafter serving several
  /// requests): their new tokens share forward passes, each cache its own sequence. The
  /// logits are the same, bit for bit, as each alone; read them with logits().
  static void sync_together(std::span<DraftModelCache* const> caches,
                            std::span<const std::vector<int32_t>* const> contexts);
  /// append() for several caches at once, in one forward pass.
  static void append_together(std::span<DraftModelCache* const> caches, std::span<const int32_t> tokens);
  /// From now on, sync() also notes its greedy guess for each context token at or past
  /// `position` that it runs (the latest kMaxGuesses of each sync): what the draft model
  /// would have drafted there, to score it on passes another drafter took.
  void guess_from(int64_t position) { guess_from_ = position; }
  /// The guesses noted since the last call, by position.
  std::vector<Guess> take_guesses() { return std::exchange(guesses_, {}); }
  /// The logits after the last token synced or appended.
  const std::vector<float>& logits() const { return logits_; }

  /// Commits pending tree rows `rows` (ascending, one path) holding `tokens` after the
  /// synced context: a later sync() to a context that continues along them reuses them.
  void commit_pending(const std::vector<int64_t>& rows, const std::vector<int32_t>& tokens);
  /// Tokens the cache holds.
  const std::vector<int32_t>& cached() const { return cached_; }
  /// The draft model.
  Transformer& model() { return model_; }
  /// The cache; callers may run tree batches into its pending rows between syncs.
  KvCache& cache() { return cache_; }
  /// Vocabulary size of the draft model.
  int32_t vocab() const { return model_.model().config().vocab_size; }

 private:
  // With a cut classifier (FR-Spec): asks the cache to also score the context's tokens the
  // classifier leaves out (a draft may copy a name from the prompt).
  void score_context_tokens(const std::vector<int32_t>& context);
  // Whether a sync to a context of `context_size` tokens guesses the token at `position`.
  bool guesses(int64_t position, size_t context_size) const;

  Transformer& model_;
  KvCache cache_;
  std::vector<int32_t> cached_;  // tokens whose keys and values the cache holds (committed)
  std::vector<float> logits_;    // after cached_.back(), when logits_valid_
  bool logits_valid_ = false;
  std::vector<bool> scored_extra_;  // [vocab] with a cut classifier: tokens the cache also scores
  size_t context_scanned_ = 0;      // context tokens score_context_tokens has looked at
  int64_t guess_from_ = INT64_MAX;  // guess_from(): none by default
  std::vector<Guess> guesses_;
};

/// Probability of `token` under softmax(logits[0, n)).
float softmax_probability(const float* logits, int32_t n, int32_t token);

}  // namespace tandem
