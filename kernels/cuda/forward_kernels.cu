// CUDA kernels of the forward pass (see forward_kernels.h). Reductions are a
// fixed butterfly within a warp and a fixed order across warps; a warp works on
// one output row (or one head's segment) at a time, so what a token gets never
// depends on its neighbours in the batch.
#include <cfloat>
#include <stdexcept>
#include <string>

#include "kernels/block_decode.h"
#include "kernels/cuda/forward_kernels.h"
#include "kernels/cuda/launch.h"
#include "kernels/exact_math.h"

namespace tandem::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;
constexpr int kTokenChunk = 8;  // tokens one warp multiplies per read of a weight row
constexpr int kMaxHeadDim = 256;

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

unsigned blocks_for(int64_t items, int per_block) { return unsigned((items + per_block - 1) / per_block); }

// Sum over the warp's lanes; the butterfly leaves the same bits in every lane.
__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ float element(const float* p, int64_t k) { return p[k]; }
__device__ float element(const uint16_t* p, int64_t k) { return blocks::half_to_float(p[k]); }
struct Bf16 {
  uint16_t bits;
};
__device__ float element(const Bf16* p, int64_t k) { return blocks::bfloat_to_float(p[k].bits); }

// ---- matmul: one warp per weight row, kTokenChunk tokens per pass over the row ----

template <class Block, int kGroups>
__global__ void matmul_blocks(DeviceMatrix w, const float* x, int64_t n, float* y) {
  const int lane = threadIdx.x % kWarp;
  const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (r >= w.rows) return;
  const Block* row = reinterpret_cast<const Block*>(static_cast<const char*>(w.data) + r * int64_t(w.row_bytes));
  const int64_t groups = w.cols / blocks::kGroup;
  for (int64_t t0 = 0; t0 < n; t0 += kTokenChunk) {
    const int tn = n - t0 < kTokenChunk ? int(n - t0) : kTokenChunk;
    float acc[kTokenChunk] = {};
    for (int64_t g = lane; g < groups; g += kWarp) {
      float vals[blocks::kGroup];
      blocks::decode_group(row[g / kGroups], int(g % kGroups), vals);
#pragma unroll
      for (int t = 0; t < kTokenChunk; ++t) {
        if (t >= tn) break;
        const float* xt = x + (t0 + t) * w.cols + g * blocks::kGroup;
        float s = 0.0f;
#pragma unroll
        for (int j = 0; j < blocks::kGroup; ++j) s += vals[j] * xt[j];
        acc[t] += s;
      }
    }
#pragma unroll
    for (int t = 0; t < kTokenChunk; ++t) {
      const float total = warp_sum(acc[t]);
      if (lane == 0 && t < tn) y[(t0 + t) * w.rows + r] = total;
    }
  }
}

template <class Elem>
__global__ void matmul_elements(DeviceMatrix w, const float* x, int64_t n, float* y) {
  const int lane = threadIdx.x % kWarp;
  const int64_t r = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (r >= w.rows) return;
  const Elem* row = reinterpret_cast<const Elem*>(static_cast<const char*>(w.data) + r * int64_t(w.row_bytes));
  for (int64_t t0 = 0; t0 < n; t0 += kTokenChunk) {
    const int tn = n - t0 < kTokenChunk ? int(n - t0) : kTokenChunk;
    float acc[kTokenChunk] = {};
    for (int64_t k = lane; k < w.cols; k += kWarp) {
      const float v = element(row, k);
#pragma unroll
      for (int t = 0; t < kTokenChunk; ++t)
        if (t < tn) acc[t] += v * x[(t0 + t) * w.cols + k];
    }
#pragma unroll
    for (int t = 0; t < kTokenChunk; ++t) {
      const float total = warp_sum(acc[t]);
      if (lane == 0 && t < tn) y[(t0 + t) * w.rows + r] = total;
    }
  }
}

// ---- embedding rows ----

template <class Block, int kGroups>
__global__ void embed_blocks(DeviceMatrix table, const int32_t* tokens, float scale, float* x) {
  const int64_t i = blockIdx.x;
  const Block* row =
      reinterpret_cast<const Block*>(static_cast<const char*>(table.data) + tokens[i] * int64_t(table.row_bytes));
  for (int64_t g = threadIdx.x; g < table.cols / blocks::kGroup; g += blockDim.x) {
    float vals[blocks::kGroup];
    blocks::decode_group(row[g / kGroups], int(g % kGroups), vals);
    for (int j = 0; j < blocks::kGroup; ++j)
      x[i * table.cols + g * blocks::kGroup + j] = scale == 1.0f ? vals[j] : vals[j] * scale;
  }
}

template <class Elem>
__global__ void embed_elements(DeviceMatrix table, const int32_t* tokens, float scale, float* x) {
  const int64_t i = blockIdx.x;
  const Elem* row =
      reinterpret_cast<const Elem*>(static_cast<const char*>(table.data) + tokens[i] * int64_t(table.row_bytes));
  for (int64_t k = threadIdx.x; k < table.cols; k += blockDim.x) {
    const float v = element(row, k);
    x[i * table.cols + k] = scale == 1.0f ? v : v * scale;
  }
}

// Calls launch.quantized<Block, groups per block>() or launch.elements<Elem>() for the type.
template <class Launch>
void by_type(DType type, Launch&& launch) {
  using namespace ggml;
  switch (type) {
    case DType::F32: return launch.template elements<float>();
    case DType::F16: return launch.template elements<uint16_t>();
    case DType::BF16: return launch.template elements<Bf16>();
    case DType::Q4_0: return launch.template quantized<BlockQ4_0, 1>();
    case DType::Q4_1: return launch.template quantized<BlockQ4_1, 1>();
    case DType::Q5_0: return launch.template quantized<BlockQ5_0, 1>();
    case DType::Q5_1: return launch.template quantized<BlockQ5_1, 1>();
    case DType::Q8_0: return launch.template quantized<BlockQ8_0, 1>();
    case DType::Q4_K: return launch.template quantized<BlockQ4_K, 8>();
    case DType::Q5_K: return launch.template quantized<BlockQ5_K, 8>();
    case DType::Q6_K: return launch.template quantized<BlockQ6_K, 8>();
  }
  throw std::invalid_argument("CUDA: unsupported weight type " + std::to_string(uint32_t(type)));
}

// ---- row-wise ops ----

constexpr int kNormThreads = 128;

__global__ void rmsnorm_rows(float* out, const float* x, const float* weight, int64_t width, float eps) {
  __shared__ float warp_sums[kNormThreads / kWarp];
  const float* xr = x + int64_t(blockIdx.x) * width;
  float* yr = out + int64_t(blockIdx.x) * width;
  float ss = 0.0f;
  for (int64_t k = threadIdx.x; k < width; k += blockDim.x) ss += xr[k] * xr[k];
  ss = warp_sum(ss);
  if (threadIdx.x % kWarp == 0) warp_sums[threadIdx.x / kWarp] = ss;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kNormThreads / kWarp; ++w) total += warp_sums[w];
  const float scale = 1.0f / sqrtf(total / float(width) + eps);
  for (int64_t k = threadIdx.x; k < width; k += blockDim.x) yr[k] = weight[k] * (scale * xr[k]);
}

__global__ void gather(float* out, const float* x, const int64_t* rows, int64_t width) {
  for (int64_t k = threadIdx.x; k < width; k += blockDim.x)
    out[int64_t(blockIdx.x) * width + k] = x[rows[blockIdx.x] * width + k];
}

__global__ void add_bias_kernel(float* x, const float* bias, int64_t count, int64_t width) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += bias[i % width];
}

__global__ void add_kernel(float* x, const float* y, int64_t count) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void gated_kernel(bool gelu, float* gate, const float* up, int64_t count) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g = gate[i];
  if (gelu) {
    const float k = 0.7978845608028654f;  // sqrt(2 / pi)
    gate[i] = 0.5f * g * (1.0f + exact::tanh(k * (g + 0.044715f * g * g * g))) * up[i];
  } else {
    gate[i] = g / (1.0f + exact::exp(-g)) * up[i];
  }
}

__global__ void rope_kernel(float* x, int64_t n, int heads, int head_dim, const float* cos, const float* sin,
                            bool interleaved) {
  const int half = head_dim / 2;
  const int64_t item = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (item >= n * heads * half) return;
  const int j = int(item % half);
  const int64_t head = item / half, token = head / heads;
  float* v = x + head * head_dim;
  const int a = interleaved ? 2 * j : j, b = interleaved ? 2 * j + 1 : j + half;
  const float c = cos[token * half + j], s = sin[token * half + j];
  const float v0 = v[a], v1 = v[b];
  v[a] = v0 * c - v1 * s;
  v[b] = v0 * s + v1 * c;
}

__global__ void store_kv_kernel(const float* k, const float* v, const DeviceKvSeq* seqs_kv, const int32_t* seqs,
                                const int64_t* slots, int layer, int64_t kv_dim) {
  const int64_t i = blockIdx.x;
  const DeviceKvSeq& s = seqs_kv[seqs[i]];
  float* kd = s.keys + layer * s.layer_stride + slots[i] * kv_dim;
  float* vd = s.values + layer * s.layer_stride + slots[i] * kv_dim;
  for (int64_t d = threadIdx.x; d < kv_dim; d += blockDim.x) {
    kd[d] = k[i * kv_dim + d];
    vd[d] = v[i * kv_dim + d];
  }
}

// ---- attention: a warp per (token, head, segment), then a warp per (token, head) merges ----

constexpr int kDimsPerLane = kMaxHeadDim / kWarp;

// Token i's first position: 0 unless a sliding window gives a list.
__device__ int64_t first_of(const AttentionArgs& a, int64_t i) { return a.first ? a.first[i] : 0; }

__device__ int64_t segment_count(const AttentionArgs& a, int64_t i) {
  return a.pos[i] / a.segment - first_of(a, i) / a.segment + 1;
}

__global__ void attention_segments(AttentionArgs a) {
  const int lane = threadIdx.x % kWarp;
  const int64_t item = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (item >= a.n * a.heads * a.max_segments) return;
  const int64_t s = item % a.max_segments, i = item / a.max_segments / a.heads;
  const int h = int(item / a.max_segments % a.heads);
  if (s >= segment_count(a, i)) return;
  const int64_t first = first_of(a, i), s0 = first / a.segment;
  const int64_t from = max(first, (s0 + s) * a.segment), to = min(a.pos[i] + 1, (s0 + s + 1) * a.segment);
  const DeviceKvSeq& kv = a.seqs_kv[a.seqs[i]];
  const int64_t kv_dim = int64_t(a.kv_heads) * a.head_dim;
  const int64_t head_offset = int64_t(h / (a.heads / a.kv_heads)) * a.head_dim;
  const float* q = a.q + (i * a.heads + h) * a.head_dim;
  float qd[kDimsPerLane], acc[kDimsPerLane];
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int d = lane + j * kWarp;
    qd[j] = d < a.head_dim ? q[d] : 0.0f;
    acc[j] = 0.0f;
  }
  float m = -FLT_MAX, l = 0.0f;
  bool started = false;  // no position folded in yet
  const int64_t* slots = a.rows + a.row_offset[i];
  for (int64_t p = from; p < to; ++p) {
    const int64_t slot = slots[p];
    const float *key, *value;
    if (slot >= 0) {
      key = kv.keys + a.layer * kv.layer_stride + slot * kv_dim + head_offset;
      value = kv.values + a.layer * kv.layer_stride + slot * kv_dim + head_offset;
    } else {
      key = kv.shared_keys + a.layer * kv.shared_layer_stride + (~slot) * kv_dim + head_offset;
      value = kv.shared_values + a.layer * kv.shared_layer_stride + (~slot) * kv_dim + head_offset;
    }
    float dot = 0.0f;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < a.head_dim) dot += qd[j] * key[d];
    }
    const float score = warp_sum(dot) * a.scale;
    // Online softmax: the running max only grows; earlier terms are rescaled when it does.
    float old_scale = 1.0f, weight = 1.0f;
    if (!started || score > m) {
      old_scale = started ? exact::exp(m - score) : 0.0f;
      m = score;
      started = true;
    } else {
      weight = exact::exp(score - m);
    }
    l = l * old_scale + weight;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < a.head_dim) acc[j] = acc[j] * old_scale + weight * value[d];
    }
  }
  const int64_t ps = a.head_dim + 2;
  float* partial = a.partials + ((i * a.heads + h) * a.max_segments + s) * ps;
  if (lane == 0) {
    partial[0] = m;
    partial[1] = l;
  }
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int d = lane + j * kWarp;
    if (d < a.head_dim) partial[2 + d] = acc[j];
  }
}

__global__ void attention_merge(AttentionArgs a) {
  const int lane = threadIdx.x % kWarp;
  const int64_t item = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
  if (item >= a.n * a.heads) return;
  const int64_t i = item / a.heads;
  const int64_t ps = a.head_dim + 2;
  const float* partials = a.partials + item * a.max_segments * ps;
  float m = partials[0], l = partials[1], acc[kDimsPerLane];
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int d = lane + j * kWarp;
    acc[j] = d < a.head_dim ? partials[2 + d] : 0.0f;
  }
  for (int64_t s = 1; s < segment_count(a, i); ++s) {
    const float* p = partials + s * ps;
    const float new_max = fmaxf(m, p[0]);
    const float keep = exact::exp(m - new_max), add = exact::exp(p[0] - new_max);
    l = l * keep + p[1] * add;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < a.head_dim) acc[j] = acc[j] * keep + p[2 + d] * add;
    }
    m = new_max;
  }
  float* out = a.out + item * a.head_dim;
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int d = lane + j * kWarp;
    if (d < a.head_dim) out[d] = acc[j] / l;
  }
}

__global__ void move_rows_kernel(float* base, int64_t blocks, int64_t block_stride, int64_t row_floats,
                                 const int64_t* moves, int64_t n) {
  const int64_t item = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (item >= blocks * row_floats) return;
  float* block = base + item / row_floats * block_stride;
  const int64_t c = item % row_floats;
  for (int64_t m = 0; m < n; ++m) block[moves[2 * m] * row_floats + c] = block[moves[2 * m + 1] * row_floats + c];
}

// Launches of a kernel for each weight type (by_type picks the member).
struct MatmulLaunch {
  const DeviceMatrix& w;
  const float* x;
  int64_t n;
  float* y;
  cudaStream_t stream;
  template <class Block, int kGroups>
  void quantized() {
    auto* kernel = matmul_blocks<Block, kGroups>;
    TANDEM_LAUNCH(kernel, blocks_for(w.rows, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, stream)(w, x, n, y);
  }
  template <class Elem>
  void elements() {
    auto* kernel = matmul_elements<Elem>;
    TANDEM_LAUNCH(kernel, blocks_for(w.rows, kWarpsPerBlock), kWarpsPerBlock * kWarp, 0, stream)(w, x, n, y);
  }
};

struct EmbedLaunch {
  const DeviceMatrix& table;
  const int32_t* tokens;
  int64_t n;
  float scale;
  float* x;
  cudaStream_t stream;
  template <class Block, int kGroups>
  void quantized() {
    auto* kernel = embed_blocks<Block, kGroups>;
    TANDEM_LAUNCH(kernel, unsigned(n), 128, 0, stream)(table, tokens, scale, x);
  }
  template <class Elem>
  void elements() {
    auto* kernel = embed_elements<Elem>;
    TANDEM_LAUNCH(kernel, unsigned(n), 128, 0, stream)(table, tokens, scale, x);
  }
};

}  // namespace

void matmul(const DeviceMatrix& w, const float* x, int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  by_type(w.type, MatmulLaunch{w, x, n, y, stream});
  check_launch("matmul");
}

void embed(const DeviceMatrix& table, const int32_t* tokens, int64_t n, float scale, float* x, cudaStream_t stream) {
  if (n == 0) return;
  by_type(table.type, EmbedLaunch{table, tokens, n, scale, x, stream});
  check_launch("embed");
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t rows, int64_t width, float eps,
             cudaStream_t stream) {
  if (rows == 0) return;
  TANDEM_LAUNCH(rmsnorm_rows, unsigned(rows), kNormThreads, 0, stream)(out, x, weight, width, eps);
  check_launch("rmsnorm");
}

void gather_rows(float* out, const float* x, const int64_t* rows, int64_t n, int64_t width, cudaStream_t stream) {
  if (n == 0) return;
  TANDEM_LAUNCH(gather, unsigned(n), 128, 0, stream)(out, x, rows, width);
  check_launch("gather_rows");
}

void add_bias(float* x, const float* bias, int64_t rows, int64_t width, cudaStream_t stream) {
  if (rows == 0) return;
  TANDEM_LAUNCH(add_bias_kernel, blocks_for(rows * width, 256), 256, 0, stream)(x, bias, rows * width, width);
  check_launch("add_bias");
}

void add(float* x, const float* y, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  TANDEM_LAUNCH(add_kernel, blocks_for(count, 256), 256, 0, stream)(x, y, count);
  check_launch("add");
}

void gated_activation(bool gelu, float* gate, const float* up, int64_t count, cudaStream_t stream) {
  if (count == 0) return;
  TANDEM_LAUNCH(gated_kernel, blocks_for(count, 256), 256, 0, stream)(gelu, gate, up, count);
  check_launch("gated_activation");
}

void rope(float* x, int64_t n, int heads, int head_dim, const float* cos, const float* sin, bool interleaved,
          cudaStream_t stream) {
  const int64_t items = n * heads * (head_dim / 2);
  if (items == 0) return;
  TANDEM_LAUNCH(rope_kernel, blocks_for(items, 256), 256, 0, stream)(x, n, heads, head_dim, cos, sin, interleaved);
  check_launch("rope");
}

void store_kv(const float* k, const float* v, const DeviceKvSeq* seqs_kv, const int32_t* seqs, const int64_t* slots,
              int64_t n, int layer, int64_t kv_dim, cudaStream_t stream) {
  if (n == 0) return;
  TANDEM_LAUNCH(store_kv_kernel, unsigned(n), 128, 0, stream)(k, v, seqs_kv, seqs, slots, layer, kv_dim);
  check_launch("store_kv");
}

void attention(const AttentionArgs& args, cudaStream_t stream) {
  if (args.n == 0) return;
  if (args.head_dim > kMaxHeadDim)
    throw std::invalid_argument("CUDA attention: head_dim " + std::to_string(args.head_dim) + " exceeds " +
                                std::to_string(kMaxHeadDim));
  const int threads = kWarpsPerBlock * kWarp;
  TANDEM_LAUNCH(attention_segments, blocks_for(args.n * args.heads * args.max_segments, kWarpsPerBlock), threads, 0,
                stream)
  (args);
  check_launch("attention_segments");
  TANDEM_LAUNCH(attention_merge, blocks_for(args.n * args.heads, kWarpsPerBlock), threads, 0, stream)(args);
  check_launch("attention_merge");
}

void move_rows(float* base, int64_t blocks, int64_t block_stride, int64_t row_floats, const int64_t* moves, int64_t n,
               cudaStream_t stream) {
  if (n == 0 || blocks == 0) return;
  TANDEM_LAUNCH(move_rows_kernel, blocks_for(blocks * row_floats, 256), 256, 0, stream)
  (base, blocks, block_stride, row_floats, moves, n);
  check_launch("move_rows");
}

}  // namespace tandem::cuda
