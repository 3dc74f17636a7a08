#pragma once
// The CUDA kernels of the forward pass, behind plain launchers that take device
// pointers (model/cuda_backend.cpp drives them). Each kernel computes a token's
// outputs with the same per-thread arithmetic and the same fixed reduction tree
// whatever the batch around it: no reduction is split by batch size or tile, so
// a token's logits are bit-identical alone, in a prefill or in a tree batch.
// Every launcher runs on `stream` and returns at once.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/dtype.h"

namespace tandem::cuda {

/// A weight matrix in device memory: rows × cols values of `type`, `row_bytes` apart.
struct DeviceMatrix {
  DType type;
  const void* data;
  int64_t rows, cols;
  size_t row_bytes;
};

/// Where one sequence's cache rows of every layer are: own rows and shared-prefix rows,
/// [layer][row][kv_dim] each (see KvRows in kernels/ops.h: slot s >= 0 own, ~p shared).
struct DeviceKvSeq {
  float* keys;               // own keys, layer 0 row 0
  float* values;             // own values
  int64_t layer_stride;      // floats from one layer's rows to the next
  const float* shared_keys;  // the shared prefix's, or null
  const float* shared_values;
  int64_t shared_layer_stride;
};

/// y[t][r] = sum_k w[r][k] x[t][k] for n tokens (x: [n][cols], y: [n][rows]).
void matmul(const DeviceMatrix& w, const float* x, int64_t n, float* y, cudaStream_t stream);
/// x[i] = row tokens[i] of `table` times scale (tokens in device memory).
void embed(const DeviceMatrix& table, const int32_t* tokens, int64_t n, float scale, float* x, cudaStream_t stream);
/// out[r] = x[r] / rms(x[r]) * weight, rows of `width`.
void rmsnorm(float* out, const float* x, const float* weight, int64_t rows, int64_t width, float eps,
             cudaStream_t stream);
/// out[i] = x[rows[i]] (rows in device memory), rows of `width`.
void gather_rows(float* out, const float* x, const int64_t* rows, int64_t n, int64_t width, cudaStream_t stream);
/// x[r] += bias, `rows` rows of `width`.
void add_bias(float* x, const float* bias, int64_t rows, int64_t width, cudaStream_t stream);
/// x += y.
void add(float* x, const float* y, int64_t count, cudaStream_t stream);
/// gate = silu(gate) * up, or gelu_tanh(gate) * up.
void gated_activation(bool gelu, float* gate, const float* up, int64_t count, cudaStream_t stream);
/// Rotary embedding of n tokens' `heads` heads; `interleaved` pairs (2i, 2i+1), else (i, i + d/2).
void rope(float* x, int64_t n, int heads, int head_dim, const float* cos, const float* sin, bool interleaved,
          cudaStream_t stream);
/// Token i's k and v rows (kv_dim) go to slot slots[i] of sequence seqs[i]'s `layer`.
void store_kv(const float* k, const float* v, const DeviceKvSeq* seqs_kv, const int32_t* seqs, const int64_t* slots,
              int64_t n, int layer, int64_t kv_dim, cudaStream_t stream);

/// Attention of n tokens. Token i reads positions [first[i], pos[i]] at slots
/// rows[row_offset[i] + p]; positions are grouped into segments of `segment` by absolute
/// position, each segment's partial (max, sum, weighted values) computed apart and the
/// partials merged in ascending order. `partials` holds n · heads · max_segments · (head_dim + 2) floats.
struct AttentionArgs {
  const float* q;  // [n][heads][head_dim]
  float* out;      // [n][heads][head_dim]
  const DeviceKvSeq* seqs_kv;
  const int32_t* seqs;        // [n]
  const int64_t* first;       // [n]
  const int64_t* pos;         // [n]
  const int64_t* rows;        // concatenated slot lists
  const int64_t* row_offset;  // [n] where token i's list starts (indexed by position)
  int64_t n;
  int heads, kv_heads, head_dim, layer, segment;
  int64_t max_segments;
  float scale;
  float* partials;
};
void attention(const AttentionArgs& args, cudaStream_t stream);

/// For each (dst, src) of `moves` (device memory, n pairs, applied in order), copies row src
/// onto row dst in each of `blocks` blocks of rows (every layer's keys, then values).
void move_rows(float* base, int64_t blocks, int64_t block_stride, int64_t row_floats, const int64_t* moves, int64_t n,
               cudaStream_t stream);

}  // namespace tandem::cuda
