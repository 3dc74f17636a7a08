#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/activation_kernels.h"
#include "kernels/dequantize.h"
#include "kernels/exact_math.h"
#include "kernels/kernel_isa.h"
#include "kernels/quantized_dot.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TANDEM_AVX2 1
#endif

namespace tandem {
namespace {

#if TANDEM_AVX2
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// Dot products of one weight row with T token rows. Each token gets the same
// sequence of operations as a lone dot_f32 call, so results are bit-identical.
template <int T>
void dot_tile(const float* w, const float* const* x, int64_t n, float* out) {
  __m256 acc[T][4];
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < 4; ++j) acc[t][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    __m256 w0 = _mm256_loadu_ps(w + k), w1 = _mm256_loadu_ps(w + k + 8);
    __m256 w2 = _mm256_loadu_ps(w + k + 16), w3 = _mm256_loadu_ps(w + k + 24);
    for (int t = 0; t < T; ++t) {
      acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + k), acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x[t] + k + 8), acc[t][1]);
      acc[t][2] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x[t] + k + 16), acc[t][2]);
      acc[t][3] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x[t] + k + 24), acc[t][3]);
    }
  }
  for (; k + 8 <= n; k += 8) {
    __m256 w0 = _mm256_loadu_ps(w + k);
    for (int t = 0; t < T; ++t) acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + k), acc[t][0]);
  }
  for (int t = 0; t < T; ++t) {
    __m256 s = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3]));
    float sum = hsum(s);
    for (int64_t i = k; i < n; ++i) sum += w[i] * x[t][i];
    out[t] = sum;
  }
}
#else
template <int T>
void dot_tile(const float* w, const float* const* x, int64_t n, float* out) {
  for (int t = 0; t < T; ++t) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) sum += w[i] * x[t][i];
    out[t] = sum;
  }
}
#endif

}  // namespace

float dot_f32(const float* a, const float* b, int64_t n) {
  float out;
  dot_tile<1>(a, &b, n, &out);
  return out;
}

void matrix_row(const WeightMatrix& w, int64_t r, float* out) { dequantize_row(w.type, w.row(r), out, w.cols); }

namespace {

// Integer path: each token's activations are quantized once, then every row is
// dotted with the tokens, up to kMaxTokensPerDot at a time so each weight block
// is widened once for several tokens. Rows go in tiles so a tile stays in cache
// while the tokens stream past it.
void matmul_quantized(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool,
                      bool precise) {
  constexpr int64_t kRowTile = 16;
  const int64_t rows = w.rows, cols = w.cols, blocks = cols / kActivationBlock;
  thread_local std::vector<int16_t> xq;
  thread_local std::vector<float> xs, xsum;
  thread_local std::vector<QuantizedActivations> tokens;
  xq.resize(size_t(2 * n_tokens * cols));  // two int16 terms per value
  xs.resize(size_t(n_tokens * blocks));
  xsum.resize(size_t(n_tokens * blocks));
  tokens.resize(size_t(n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t)
    tokens[size_t(t)] = {xq.data() + 2 * t * cols, xs.data() + t * blocks, xsum.data() + t * blocks};
  // Plain pointers: inside the lambdas, a thread_local name would mean the worker's own copy.
  int16_t* q = xq.data();
  float* scale = xs.data();
  float* sum = xsum.data();
  pool.parallel_for(n_tokens, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      quantize_activations(x + t * cols, cols, q + 2 * t * cols, scale + t * blocks, sum + t * blocks);
  });
  const QuantizedActivations* token = tokens.data();
  pool.parallel_for((rows + kRowTile - 1) / kRowTile, [&](int64_t begin, int64_t end) {
    float out[kMaxTokensPerDot];
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t r0 = tile * kRowTile, r1 = std::min(rows, r0 + kRowTile);
      for (int64_t t = 0; t < n_tokens; t += kMaxTokensPerDot) {
        const int count = int(std::min<int64_t>(kMaxTokensPerDot, n_tokens - t));
        for (int64_t r = r0; r < r1; ++r) {
          dot_quantized(w.type, w.row(r), token + t, count, cols, out, precise);
          for (int k = 0; k < count; ++k) y[(t + k) * rows + r] = out[k];
        }
      }
    }
  });
}

// Float path: decode each row once, then dot it with every token.
void matmul_float(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool) {
  const int64_t rows = w.rows, cols = w.cols;
  pool.parallel_for(rows, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> decoded;
    if (w.type != DType::F32) decoded.resize(size_t(cols));
    for (int64_t r = begin; r < end; ++r) {
      const float* wr;
      if (w.type == DType::F32) {
        wr = static_cast<const float*>(w.row(r));
      } else {
        dequantize_row(w.type, w.row(r), decoded.data(), cols);
        wr = decoded.data();
      }
      int64_t t = 0;
      for (; t + 2 <= n_tokens; t += 2) {
        const float* xs[2] = {x + t * cols, x + (t + 1) * cols};
        float out[2];
        dot_tile<2>(wr, xs, cols, out);
        y[t * rows + r] = out[0];
        y[(t + 1) * rows + r] = out[1];
      }
      if (t < n_tokens) {
        const float* xs[1] = {x + t * cols};
        dot_tile<1>(wr, xs, cols, &y[t * rows + r]);
      }
    }
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool& pool, MatmulPath path) {
  if (n_tokens <= 0) return;
  if (path != MatmulPath::Float && has_quantized_dot(w.type) && w.cols % kActivationBlock == 0)
    matmul_quantized(w, x, n_tokens, y, pool, path != MatmulPath::Int16Fast);
  else
    matmul_float(w, x, n_tokens, y, pool);
}

MatmulPath matmul_path_named(const std::string& name) {
  if (name == "precise" || name == "int16") return MatmulPath::Int16;
  if (name == "int8") return MatmulPath::Int8;
  if (name == "int16-fast") return MatmulPath::Int16Fast;
  if (name == "float") return MatmulPath::Float;
  throw std::invalid_argument("matmul path must be precise, int8, int16-fast or float, got '" + name + "'");
}

const char* matmul_path_name(MatmulPath path) {
  switch (path) {
    case MatmulPath::Int16: return "precise";
    case MatmulPath::Int8: return "int8";
    case MatmulPath::Int16Fast: return "int16-fast";
    case MatmulPath::Float: return "float";
  }
  return "?";
}

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  float scale = 1.0f / std::sqrt(ss / float(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (scale * x[i]);
}

void rope(float* x, int n_heads, int head_dim, const float* cos, const float* sin, RopeStyle style) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int i = 0; i < half; ++i) {
      int a = style == RopeStyle::Interleaved ? 2 * i : i;
      int b = style == RopeStyle::Interleaved ? 2 * i + 1 : i + half;
      float v0 = v[a], v1 = v[b];
      v[a] = v0 * cos[i] - v1 * sin[i];
      v[b] = v0 * sin[i] + v1 * cos[i];
    }
  }
}

float silu_reference(float g) { return g / (1.0f + exact::exp(std::min(std::max(-g, kSiluExpLow), kSiluExpHigh))); }

float attention_exp(float x) { return x < kAttentionExpFloor ? 0.0f : exact::exp(x); }

void swiglu(float* gate, const float* up, int64_t n) {
  switch (kernel_isa()) {
    case KernelIsa::Avx512Vnni: return act::swiglu_avx512(gate, up, n);
    case KernelIsa::Avx2: return act::swiglu_avx2(gate, up, n);
    default:
      for (int64_t i = 0; i < n; ++i) gate[i] = silu_reference(gate[i]) * up[i];
  }
}

void geglu(float* gate, const float* up, int64_t n) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  for (int64_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + std::tanh(k * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace tandem
