#pragma once
// The forward pass of a Llama-family transformer over any batch of tokens.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "kernels/thread_pool.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace tandem {

/// Positions per attention segment (see DESIGN.md, "Attention in fixed segments").
constexpr int kAttentionSegment = 1024;

/// One token of a batch.
struct BatchToken {
  int32_t token;            // vocabulary id
  int32_t seq;              // index into the caches passed to forward()
  int64_t pos;              // absolute position in its sequence
  int32_t parent;           // batch index of the previous token of its branch, or -1 right after the cache
  bool logits = false;      // whether forward() returns this token's logits
  int64_t parent_row = -1;  // with parent -1: the pending cache row (left by an earlier forward) this
                            // token continues; -1: the committed rows. Using it keeps that
                            // sequence's pending rows and appends the batch's rows after them.
};

/// Runs batches through a model. One instance per thread of use; buffers are reused across calls.
class Transformer {
 public:
  /// `threads` CPU threads (<= 0: one per core); `segment` positions per attention segment;
  /// `path` how quantized weights are multiplied.
  Transformer(const Model& model, int threads, int segment = kAttentionSegment, MatmulPath path = kDefaultMatmulPath);

  /// Computes the batch. A token attends to its sequence's committed cache and to
  /// its ancestors in the batch (following `parent`). Writes every token's keys and
  /// values as pending rows of its cache (commit or truncate afterwards) and returns
  /// the logits of the tokens marked `logits`, in batch order: [n_marked][vocab].
  /// Throws std::invalid_argument for a malformed batch, before touching any cache.
  std::span<const float> forward(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches);

  /// The model.
  const Model& model() const { return model_; }
  /// The worker threads.
  ThreadPool& pool() { return pool_; }

 private:
  void validate(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches) const;
  std::span<const float> forward_once(const std::vector<BatchToken>& batch, std::span<KvCache* const> caches);
  // Recomputes the segments a failed remote of `cache` held onto its replacement.
  void rebuild_remote(KvCache& cache, const std::string& why);
  void resize_buffers(int64_t n, int64_t n_logits);
  void project(const WeightMatrix& w, const float* x, int64_t n, float* y);
  struct Projection {
    const WeightMatrix* w;
    float* y;
  };
  void project_shared(std::initializer_list<Projection> projections, const float* x, int64_t n);
  void attention(int layer, const std::vector<BatchToken>& batch, std::span<KvCache* const> caches);
  // Asks the caches' remotes for the partials of their segments (one request per sequence,
  // all sent at once), filling remote_segments_ and remote_tokens_; true if any was asked.
  template <class FirstOf>
  bool request_remote(int layer, const std::vector<BatchToken>& batch, std::span<KvCache* const> caches,
                      FirstOf first_of);
  // Waits for what request_remote asked, filling remote_ and remote_offset_.
  void collect_remote(std::span<KvCache* const> caches);
  void rotary_tables(const std::vector<BatchToken>& batch, double theta, std::vector<float>& cos,
                     std::vector<float>& sin);

  const Model& model_;
  ThreadPool pool_;
  int segment_;
  MatmulPath path_;
  const PackedWeights* packed_ = nullptr;  // with path Int8

  // Activations for n tokens; sized for the largest batch seen.
  std::vector<float> x_;                             // [n][dim] residual stream
  std::vector<float> xb_;                            // [n][dim] normed input of a sublayer
  std::vector<float> q_;                             // [n][n_heads*head_dim]
  std::vector<float> k_, v_;                         // [n][kv_dim]
  std::vector<float> att_;                           // [n][n_heads*head_dim]
  std::vector<float> out_;                           // [n][dim] sublayer output
  std::vector<float> gate_, up_;                     // [n][hidden_dim]
  std::vector<float> cos_, sin_;                     // [n][head_dim/2] rotary angles per token (global layers)
  std::vector<float> cos_local_, sin_local_;         // the same with the local layers' RoPE base
  std::vector<float> logits_;                        // [n_marked][vocab]
  std::vector<int64_t> slot_;                        // [n] cache row each token writes
  std::vector<std::vector<int64_t>> rows_;           // [n] cache rows of positions 0..pos, in order
  std::vector<float> partials_;                      // attention segment partials when a context is split
  std::vector<float> remote_;                        // remote segments' partials of this layer
  std::vector<int64_t> remote_offset_;               // [n] token's first remote partial in remote_, -1: none
  std::vector<int64_t> remote_segments_;             // [n] token's remote segments
  std::vector<std::vector<int64_t>> remote_tokens_;  // [sequence] its tokens that asked its remote
};

}  // namespace tandem
