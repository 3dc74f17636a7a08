#pragma once
// Where a forward pass runs. A backend holds the activations and offers the ops
// the transformer needs; model/transformer.cpp is written once against this and
// model/cpu_backend.cpp and model/cuda_backend.cpp implement it. Every pointer an op
// takes is in the backend's memory; weights are the model's own, and each backend
// finds its copy of them. Each op computes a token's rows the same way whatever
// else is in the batch.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/device.h"
#include "kernels/ops.h"
#include "model/kv_cache.h"
#include "model/model.h"

namespace tandem {

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

/// Activation buffers for a batch of n tokens, in the backend's memory.
struct Activations {
  float* x;          // [n][dim] residual stream
  float* xb;         // [n][dim] normed input of a sublayer
  float* q;          // [n][n_heads*head_dim]
  float* k;          // [n][kv_dim]
  float* v;          // [n][kv_dim]
  float* att;        // [n][n_heads*head_dim]
  float* out;        // [n][dim] sublayer output
  float* gate;       // [n][hidden_dim]
  float* up;         // [n][hidden_dim]
  float* cos;        // [n][head_dim/2] rotary angles per token (global layers)
  float* sin;        // [n][head_dim/2]
  float* cos_local;  // the same with the local layers' RoPE base
  float* sin_local;  //
  float* logits;     // [n_marked][vocab]
};

/// A batch as attention sees it: each token's cache and the cache rows it reads.
struct AttentionBatch {
  const std::vector<BatchToken>& tokens;
  std::span<KvCache* const> caches;
  const std::vector<std::vector<int64_t>>& rows;  // [n] cache slot of each position 0..pos (see KvRows)
  int segment;                                    // positions per attention segment
};

/// A projection y = w x of a shared input.
struct Projection {
  const WeightMatrix* w;
  float* y;
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// The device, as `--device` names it.
  virtual std::string name() const = 0;

  /// Buffers for n tokens of which n_logits ask for logits (grown as needed, never shrunk).
  virtual const Activations& reserve(int64_t n, int64_t n_logits) = 0;
  /// Copies `count` host floats into backend memory.
  virtual void upload(float* dst, const float* src, int64_t count) = 0;
  /// The first `count` floats of the logits buffer, readable on the host.
  virtual std::span<const float> logits(int64_t count) = 0;
  /// `count` floats at `x` (an activation buffer), readable on the host until the next call.
  virtual std::span<const float> read(const float* x, int64_t count) = 0;
  /// Puts the cache's rows where this backend computes (a cache that holds none yet).
  virtual void adopt(KvCache& cache) = 0;

  /// x[i] = row tokens[i] of the embedding table times `scale`.
  virtual void embed(const WeightMatrix& table, std::span<const int32_t> tokens, float scale, float* x) = 0;
  /// out[r] = x[r] / rms(x[r]) * weight for `rows` rows of `width`.
  virtual void rmsnorm(float* out, const float* x, const std::vector<float>& weight, int64_t rows, int64_t width,
                       float eps) = 0;
  /// out[i] = x[rows[i]], rows of `width`.
  virtual void gather_rows(float* out, const float* x, std::span<const int64_t> rows, int64_t width) = 0;
  /// Makes project() accept `m`, a matrix the model does not hold (a draft model's classifier
  /// cut to some rows), replacing any earlier one at the same address; its data must stay
  /// unchanged while it is used.
  virtual void add_matrix(const WeightMatrix& m) = 0;
  /// Each projection's y = w x for n tokens of x.
  virtual void project(std::initializer_list<Projection> projections, const float* x, int64_t n) = 0;
  /// x[r] += bias for `rows` rows.
  virtual void add_bias(float* x, const std::vector<float>& bias, int64_t rows) = 0;
  /// Rotates the `heads` head vectors of each of n tokens by the token's angles.
  virtual void rope(float* x, int64_t n, int heads, int head_dim, const float* cos, const float* sin,
                    RopeStyle style) = 0;
  /// Writes token i's key and value rows (kv_dim each) to slot slots[i] of its cache's `layer`.
  virtual void store_kv(int layer, const float* k, const float* v, std::span<const int64_t> slots,
                        const AttentionBatch& batch) = 0;
  /// att[i] = attention of token i's query heads over its rows of `layer`.
  virtual void attention(int layer, const AttentionBatch& batch, const float* q, float* att) = 0;
  /// gate = act(gate) * up over `count` values.
  virtual void gated_activation(Activation act, float* gate, const float* up, int64_t count) = 0;
  /// x += y over `count` values.
  virtual void add(float* x, const float* y, int64_t count) = 0;
};

/// The CPU backend: `pool`'s threads, attention in segments of `segment`, quantized weights
/// multiplied through `path` (model/cpu_backend.cpp).
std::unique_ptr<Backend> make_cpu_backend(const Model& model, ThreadPool& pool, MatmulPath path);

/// The CUDA backend on device `index` (model/cuda_backend.cpp); throws std::runtime_error when
/// this build has no CUDA or the device cannot be used.
std::unique_ptr<Backend> make_cuda_backend(const Model& model, int index);

}  // namespace tandem
