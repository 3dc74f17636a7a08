#pragma once
// One request's speculative decoding, advanced one verifier pass at a time, so that
// a caller can put several requests' passes into a single target forward
// (continuous batching) or run one request alone (generate_speculative).
//
//   prefill ─▶ [ add_pass ─▶ (caller runs the forward) ─▶ finish_pass ]* ─▶ finished
#include <functional>
#include <memory>

#include "speculation/draft_length.h"
#include "speculation/drafter.h"
#include "speculation/generation.h"
#include "speculation/grammar_constraint.h"
#include "speculation/speculative.h"

namespace tandem {

/// A request being decoded: its cache, its drafter (none: one token per pass) and what it produced.
class SpeculativeRun {
 public:
  /// `drafter` may be null (plain decoding); `on_token` sees each new token and may throw to abort.
  SpeculativeRun(const Model& target, Drafter* drafter, std::vector<int32_t> prompt_ids, GenerationOptions options,
                 SpeculationOptions speculation, std::function<void(int32_t)> on_token = {});

  /// Runs the whole prompt into the cache and takes the first token from its last logits, as
  /// plain decoding does (the first pass then opens with that token). A run whose prompt's
  /// positions came whole from elsewhere (adopt_prompt, adopt_prefix) opens its first pass
  /// with the prompt's last token instead.
  void prefill(Transformer& target);
  /// Whether prompt tokens are still waiting to be run (when prefilling chunk by chunk).
  bool prefilling() const { return prefilled_ + 1 < int64_t(result_.prompt_ids.size()); }
  /// Appends up to `max_tokens` of the prompt not yet run to `batch` as sequence `seq`, so a
  /// prompt can share passes with other requests' decoding. Returns how many. Only the
  /// prompt's last token asks for logits (chunk_ends_prompt).
  int64_t add_prefill_chunk(std::vector<BatchToken>& batch, int32_t seq, int64_t max_tokens);
  /// Whether the chunk just added holds the prompt's last token, whose logits row
  /// finish_prefill_chunk then needs.
  bool chunk_ends_prompt() const;
  /// After the forward of a prefill chunk: keeps its keys and values; when the chunk ended the
  /// prompt, decides the first token from `last_logits`, as prefill() does.
  void finish_prefill_chunk(const float* last_logits = nullptr);
  /// Once the prompt is in and before the first pass: makes the cache's prompt positions a
  /// prefix that other runs share (KvCache), this run reading it too: the samples of one
  /// request, and later prompts that start the same way (server/prefix_cache.h). When part
  /// of the prompt came from an earlier run's prefix, that part is copied in (a prefix
  /// shares no prefix of its own). Asked again, it gives the same prefix.
  std::shared_ptr<const KvCache> share_prompt();
  /// Before the first pass: reads the prompt's positions from `prompt` (another run's
  /// share_prompt()) instead of prefilling them.
  void adopt_prompt(std::shared_ptr<const KvCache> prompt);
  /// Before prefilling: reads the prompt's first `positions` positions from `prefix` (an
  /// earlier prompt's share_prompt() that starts with the same tokens) and prefills only the
  /// rest. At most the prompt's positions (all but its last token, which opens the first pass).
  void adopt_prefix(std::shared_ptr<const KvCache> prefix, int64_t positions);
  /// The same for a run whose cache keeps segments on KV shards, from a cached prompt that
  /// does too (KvCache::adopt_remote_prefix): returns the positions taken, maybe fewer.
  int64_t adopt_remote_prefix(const KvCache& prefix, int64_t positions);
  /// Prompt positions read from an earlier prompt's prefix instead of prefilled (0: none).
  int64_t cached_positions() const { return cached_positions_; }
  /// The prompt and the output so far; the cache's committed position p holds token p.
  const std::vector<int32_t>& context() const { return context_; }
  /// Whether the request has ended (stop token, token limit or context limit).
  bool finished() const { return finished_; }
  /// Before add_pass: chooses this pass's draft depth and tells the drafter what it will be
  /// asked for (Drafter::prepare), so that a remote drafter drafts for the whole batch at once.
  void announce_pass();
  /// Drafts and appends this pass's tokens to `batch` as sequence `seq`: the pending token,
  /// then the tree. All of them ask for logits.
  void add_pass(std::vector<BatchToken>& batch, int32_t seq);
  /// Tokens add_pass appended.
  int32_t pass_tokens() const { return 1 + tree_.size(); }
  /// Levels of this pass's draft tree (0: nothing drafted).
  int32_t pass_depth() const { return tree_.depth(); }
  /// After the forward: `logits` are this pass's rows ([pass_tokens()][vocab]). Verifies,
  /// commits the cache, emits the new tokens.
  void finish_pass(const float* logits);

  /// With options.logprobs >= 0: the log probabilities of the token on_token is being given
  /// (computed from the row of the pass's logits that decided it).
  const TokenLogprobs& latest_logprobs() const { return latest_logprobs_; }

  /// The request's cache.
  KvCache& cache() { return cache_; }
  /// What it produced so far (decode_seconds counts from the end of prefill).
  GenerationResult result() const;
  /// Drafting and verification figures.
  const SpeculationStats& stats() const { return stats_; }

 private:
  const Model& model_;
  Drafter* drafter_;
  GenerationOptions options_;
  SpeculationOptions speculation_;
  std::function<void(int32_t)> on_token_;
  KvCache cache_;
  GenerationResult result_;
  SpeculationStats stats_;
  DraftLength depth_;
  std::vector<int32_t> context_;   // prompt and output
  int32_t pending_ = -1;           // decided, not yet in the cache
  TokenTree tree_;                 // this pass's drafts
  std::vector<int32_t> pass_ids_;  // tokens of this pass, for Drafter::observe
  bool finished_ = false;
  int planned_depth_ = -1;  // chosen by announce_pass for the next add_pass (-1: not yet)
  TokenLogprobs latest_logprobs_;
  std::unique_ptr<GrammarConstraint> grammar_;  // structured output: masks drafts and logits

  // The next pass's draft depth, chosen once (by announce_pass or add_pass).
  int planned_depth();
  // finish_pass's work; `in_cache`: the pass's one token is committed already (prefill's last).
  void conclude_pass(const float* raw_logits, bool in_cache);
  // Decides the first token from the logits of the prompt's last token, run in the prefill.
  void take_first_token(const float* last_logits);
  int64_t prefilled_ = 0;                         // prompt tokens in the cache
  int64_t cached_positions_ = 0;                  // of those, read from an earlier prompt's prefix (adopt_prefix)
  std::shared_ptr<const KvCache> shared_prompt_;  // this run's prompt as a shared prefix, once share_prompt() made it
  int64_t chunk_ = 0;                             // prompt tokens in the current prefill chunk
  std::chrono::steady_clock::time_point decode_start_, verify_start_;
};

}  // namespace tandem
