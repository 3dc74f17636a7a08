#pragma once
// The forward pass of a Llama-family transformer over any batch of tokens.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/backend.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace tandem {

/// Positions per attention segment (see DESIGN.md, "Attention in fixed segments").
constexpr int kAttentionSegment = 1024;

/// Runs batches through a model. One instance per thread of use; buffers are reused across calls.
class Transformer {
 public:
  /// `threads` CPU threads (<= 0: one per core); `segment` positions per attention segment;
  /// `path` how quantized weights are multiplied on the CPU; `device` where the forward runs
  /// (a CUDA device computes its own way and ignores `path`).
  Transformer(const Model& model, int threads, int segment = kAttentionSegment, MatmulPath path = kDefaultMatmulPath,
              Device device = {});

  /// Computes the batch. A token attends to its sequence's committed cache and to
  /// its ancestors in the batch (following `parent`). Writes every token's keys and
  /// values as pending rows of its cache (commit or truncate afterwards) and returns
  /// the logits of the tokens marked `logits`, in batch order: [n_marked][vocab].
  /// Throws std::invalid_argument for a malformed batch, before touching any cache. A cache
  /// whose KV shard is lost is rebuilt on another (model/kv_recovery.h).
  std::span<const float> forward(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches);

  /// Computes the classifier only for `tokens` (FR-Spec, for a draft model): every other
  /// token's logit comes out as -infinity, so softmax and argmax range over `tokens` alone,
  /// whose logits are unchanged. Empty: the whole vocabulary again. Throws
  /// std::invalid_argument for an id outside the vocabulary.
  void restrict_vocabulary(std::vector<int32_t> tokens);
  /// The tokens the classifier computes (empty: all). A sequence's cache may name more
  /// (KvCache::also_score); theirs are computed apart, in float, for that sequence alone.
  const std::vector<int32_t>& vocabulary() const { return head_tokens_; }
  /// Whether the classifier computes `token`'s logit for every sequence.
  bool scores(int32_t token) const { return head_tokens_.empty() || kept_[size_t(token)]; }
  /// Weight bytes a one-token pass reads: the model's, less the classifier rows it skips.
  size_t bytes_per_token() const;

  /// The model.
  const Model& model() const { return model_; }
  /// The worker threads.
  ThreadPool& pool() { return pool_; }
  /// Where the forward runs ("cpu", "cuda:0").
  std::string device_name() const { return backend_->name(); }

 private:
  void validate(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) const;
  void score_extra_tokens(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches, const float* normed,
                          int64_t n_logits);
  std::span<const float> forward_once(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches);
  void cache_rows(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches);
  void rotary_tables(const std::vector<BatchToken>& batch, double theta, std::vector<float>& cos,
                     std::vector<float>& sin);

  const Model& model_;
  ThreadPool pool_;
  int segment_;
  std::unique_ptr<Backend> backend_;

  // Host-side bookkeeping of a pass; the activations are the backend's.
  std::vector<int64_t> slot_;               // [n] cache row each token writes
  std::vector<std::vector<int64_t>> rows_;  // [n] cache rows of positions 0..pos, in order
  std::vector<int32_t> token_ids_;          // [n]
  std::vector<int64_t> logit_rows_;         // batch index of each token that asked for logits
  std::vector<float> cos_, sin_;            // [n][head_dim/2] rotary angles on the host

  // restrict_vocabulary's classifier: the output rows of head_tokens_ (ascending), copied.
  std::vector<int32_t> head_tokens_;
  std::vector<bool> kept_;  // [vocab] whether head_tokens_ holds the id
  std::vector<uint8_t> head_bytes_;
  std::vector<float> extra_row_;  // a dequantized classifier row of an extra token
  WeightMatrix head_;
  std::vector<float> full_logits_;  // [n_marked][vocab], -infinity outside head_tokens_
};

}  // namespace tandem
