// AVX2 integer dot products per GGML block format. Each weight block is widened
// to int16 once and multiplied with every token's activations by
// _mm256_madd_epi16 (exact int32 sums); the block's float scales are applied
// once per 16 or 32 values. Block layouts as in dequantize.cpp. Each kernel is
// a template over the number of tokens T; every token sees the same sequence
// of operations whatever T is. P (precise) adds the low activation terms.
#include "kernels/quantized_dot.h"

#include <cmath>
#include <cstring>

#include "kernels/ggml_blocks.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define TANDEM_INT_DOT 1
#endif

namespace tandem {

void quantize_activations(const float* x, int64_t n, int16_t* q, float* scale, float* sum) {
  for (int64_t b = 0; b < n / kActivationBlock; ++b) {
    const float* xb = x + b * kActivationBlock;
    int16_t* hi = q + 2 * b * kActivationBlock;
    int16_t* lo = hi + kActivationBlock;
    float amax = 0.0f, total = 0.0f;
    for (int i = 0; i < kActivationBlock; ++i) {
      amax = std::fmax(amax, std::fabs(xb[i]));
      total += xb[i];
    }
    float d = amax / 32767.0f;
    float inv = d > 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < kActivationBlock; ++i) {
      float v = xb[i] * inv;
      float h = std::nearbyint(v);
      hi[i] = int16_t(h);
      lo[i] = int16_t(std::nearbyint((v - h) * 32768.0f));  // |v - h| <= 0.5, so |lo| <= 16384
    }
    scale[b] = d;
    sum[b] = total;
  }
}

#if TANDEM_INT_DOT
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

inline __m256i load16(const int16_t* x) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)); }

inline __m256i madd_add(__m256i acc, __m256i w16, __m256i x16) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpwssd_epi32(acc, w16, x16);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(w16, x16));
#endif
}

// Exact int32 sums (8 lanes) of weights times the high and the low activation terms
// (the low ones only when Precise: the fast path uses the high terms alone).
struct Products {
  __m256i hi, lo;
};

// 16 widened weights against values offset..offset+15 of the quantized block at x.
template <bool Precise>
inline Products madd16(__m256i w16, const int16_t* x, int offset) {
  if constexpr (Precise)
    return {_mm256_madd_epi16(w16, load16(x + offset)), _mm256_madd_epi16(w16, load16(x + kActivationBlock + offset))};
  else
    return {_mm256_madd_epi16(w16, load16(x + offset)), __m256i{}};
}

// 32 signed int8 weights, widened once.
struct Widened {
  __m256i first, second;  // values 0-15 and 16-31 as int16
};
inline Widened widen(__m256i w8) {
  return {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(w8)), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w8, 1))};
}

// A widened block of 32 weights against a whole quantized block.
template <bool Precise>
inline Products madd32(const Widened& w, const int16_t* x) {
  Products p = madd16<Precise>(w.first, x, 0);
  if constexpr (Precise)
    return {madd_add(p.hi, w.second, load16(x + 16)), madd_add(p.lo, w.second, load16(x + kActivationBlock + 16))};
  else
    return {madd_add(p.hi, w.second, load16(x + 16)), __m256i{}};
}

// Running float sums of the high and low products of one token.
template <bool Precise>
struct Accumulator {
  __m256 hi = _mm256_setzero_ps(), lo = _mm256_setzero_ps();
  void add(const Products& p, float factor) {
    __m256 f = _mm256_set1_ps(factor);
    hi = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p.hi), f, hi);
    if constexpr (Precise) lo = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p.lo), f, lo);
  }
  float total() const {
    if constexpr (Precise)
      return hsum(hi) + hsum(lo) * (1.0f / 32768.0f);
    else
      return hsum(hi);
  }
};

// Activation block `block` of a token.
inline const int16_t* block_of(const QuantizedActivations& x, int64_t block) {
  return x.q + block * 2 * kActivationBlock;
}

// Low nibbles of 16 bytes followed by their high nibbles: 32 values 0..15.
inline __m256i nibbles(const uint8_t* p) {
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), mask), _mm_and_si128(b, mask));
}

// 32 bits to 32 bytes: 0x10 where the bit is set.
inline __m256i fifth_bits(const uint8_t qh[4]) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int32_t(bits)), shuffle);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x7fbfdfeff7fbfdfe));
  bytes = _mm256_or_si256(bytes, bit);
  return _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

using namespace ggml;

// The simple 32-value formats: `weights(block)` gives the block's signed int8 values,
// `minimum(block)` its additive minimum (0 for the symmetric formats).
template <int T, bool P, typename Block, typename Weights, typename Minimum>
void dot_simple(const void* row, const QuantizedActivations* x, int64_t n, float* out, Weights weights,
                Minimum minimum) {
  const auto* b = static_cast<const Block*>(row);
  Accumulator<P> acc[T];
  float mins[T] = {};
  for (int64_t i = 0; i < n / 32; ++i) {
    Widened w = widen(weights(b[i]));
    float d = half(b[i].d), m = minimum(b[i]);
    for (int t = 0; t < T; ++t) {
      acc[t].add(madd32<P>(w, block_of(x[t], i)), d * x[t].scale[i]);
      mins[t] += m * x[t].sum[i];
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t].total() + mins[t];
}

template <int T, bool P>
void dot_q8_0(const void* row, const QuantizedActivations* x, int64_t n, float* out) {
  dot_simple<T, P, BlockQ8_0>(
      row, x, n, out, [](const BlockQ8_0& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); },
      [](const BlockQ8_0&) { return 0.0f; });
}

template <int T, bool P>
void dot_q4_0(const void* row, const QuantizedActivations* x, int64_t n, float* out) {
  dot_simple<T, P, BlockQ4_0>(
      row, x, n, out, [](const BlockQ4_0& b) { return _mm256_sub_epi8(nibbles(b.qs), _mm256_set1_epi8(8)); },
      [](const BlockQ4_0&) { return 0.0f; });
}

template <int T, bool P>
void dot_q4_1(const void* row, const QuantizedActivations* x, int64_t n, float* out) {
  dot_simple<T, P, BlockQ4_1>(
      row, x, n, out, [](const BlockQ4_1& b) { return nibbles(b.qs); }, [](const BlockQ4_1& b) { return half(b.m); });
}

template <int T, bool P>
void dot_q5_0(const void* row, const QuantizedActivations* x, int64_t n, float* out) {
  dot_simple<T, P, BlockQ5_0>(
      row, x, n, out,
      [](const BlockQ5_0& b) {
        return _mm256_sub_epi8(_mm256_or_si256(nibbles(b.qs), fifth_bits(b.qh)), _mm256_set1_epi8(16));
      },
      [](const BlockQ5_0&) { return 0.0f; });
}

// The eight 6-bit scales and mins of a Q4_K super-block, unpacked from 12 bytes
// four at a time: scales 0-3 and mins 0-3 are the low 6 bits of bytes 0-3 and
// 4-7; scales and mins 4-7 take 4 bits from bytes 8-11 and their top 2 bits
// from the top of bytes 0-3 (scales) or 4-7 (mins).
inline void unpack_scales_k4(const uint8_t* packed, uint8_t scales[8], uint8_t mins[8]) {
  uint32_t w[3];
  std::memcpy(w, packed, 12);
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
  uint32_t sc[2] = {w[0] & low6, (w[2] & low4) | (((w[0] >> 6) & top2) << 4)};
  uint32_t mn[2] = {w[1] & low6, ((w[2] >> 4) & low4) | (((w[1] >> 6) & top2) << 4)};
  std::memcpy(scales, sc, 8);
  std::memcpy(mins, mn, 8);
}

inline __m256 bytes_to_floats(const uint8_t v[8]) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(v))));
}

template <int T, bool P>
void dot_q4_k(const void* row, const QuantizedActivations* x, int64_t n, float* out) {
  const auto* b = static_cast<const BlockQ4_K*>(row);
  const __m256i mask = _mm256_set1_epi8(0x0f);
  Accumulator<P> acc[T];
  __m256 mins[T];
  for (int t = 0; t < T; ++t) mins[t] = _mm256_setzero_ps();
  alignas(32) float factor[T][8];
  for (int64_t i = 0; i < n / 256; ++i) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(b[i].scales, sc, m);
    // Sub-block j covers activation block 8i + j: its factor is d * scale_j * x_scale,
    // its minimum contributes dmin * min_j * (sum of x).
    __m256 d_sc = _mm256_mul_ps(_mm256_set1_ps(half(b[i].d)), bytes_to_floats(sc));
    __m256 dmin_m = _mm256_mul_ps(_mm256_set1_ps(half(b[i].dmin)), bytes_to_floats(m));
    for (int t = 0; t < T; ++t) {
      mins[t] = _mm256_fmadd_ps(dmin_m, _mm256_loadu_ps(x[t].sum + 8 * i), mins[t]);
      _mm256_store_ps(factor[t], _mm256_mul_ps(d_sc, _mm256_loadu_ps(x[t].scale + 8 * i)));
    }
    for (int j = 0; j < 4; ++j) {
      __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * j));
      Widened low = widen(_mm256_and_si256(bytes, mask));
      Widened high = widen(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask));
      for (int t = 0; t < T; ++t) {
        acc[t].add(madd32<P>(low, block_of(x[t], i * 8 + 2 * j)), factor[t][2 * j]);
        acc[t].add(madd32<P>(high, block_of(x[t], i * 8 + 2 * j + 1)), factor[t][2 * j + 1]);
      }
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t].total() - hsum(mins[t]);
}

template <int T, bool P>
void dot_q6_k(const void* row, const QuantizedActivations* x, int64_t n, float* out) {
  const auto* b = static_cast<const BlockQ6_K*>(row);
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
  const __m256i pairs_lo = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  const __m256i pairs_hi = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
  Accumulator<P> acc[T];
  alignas(32) float factor[T][16];
  for (int64_t i = 0; i < n / 256; ++i) {
    // Group k of 16 values has factor d * scale_k * x_scale of activation block 8i + k/2.
    __m256 d = _mm256_set1_ps(half(b[i].d));
    __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].scales));
    __m256 d_sc_lo = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
    __m256 d_sc_hi = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))));
    for (int t = 0; t < T; ++t) {
      __m256 x_scale = _mm256_loadu_ps(x[t].scale + 8 * i);
      _mm256_store_ps(factor[t], _mm256_mul_ps(d_sc_lo, _mm256_permutevar8x32_ps(x_scale, pairs_lo)));
      _mm256_store_ps(factor[t] + 8, _mm256_mul_ps(d_sc_hi, _mm256_permutevar8x32_ps(x_scale, pairs_hi)));
    }
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh + 32 * h));
      // The four groups of 32 values of this half, each 6 bits minus 32.
      __m256i groups[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
      };
      for (int g = 0; g < 4; ++g) {
        Widened w = widen(_mm256_sub_epi8(groups[g], bias));
        const int64_t blk = i * 8 + h * 4 + g;
        const int k = h * 8 + 2 * g;  // scale of the group's first 16 values; k + 1 for the rest
        for (int t = 0; t < T; ++t) {
          acc[t].add(madd16<P>(w.first, block_of(x[t], blk), 0), factor[t][k]);
          acc[t].add(madd16<P>(w.second, block_of(x[t], blk), 16), factor[t][k + 1]);
        }
      }
    }
  }
  for (int t = 0; t < T; ++t) out[t] = acc[t].total();
}

using DotKernel = void (*)(const void*, const QuantizedActivations*, int64_t, float*);

// The kernel of `type` for T tokens, or nullptr when the type has none.
template <int T, bool P>
DotKernel kernel_for(DType type) {
  switch (type) {
    case DType::Q4_0: return dot_q4_0<T, P>;
    case DType::Q4_1: return dot_q4_1<T, P>;
    case DType::Q5_0: return dot_q5_0<T, P>;
    case DType::Q8_0: return dot_q8_0<T, P>;
    case DType::Q4_K: return dot_q4_k<T, P>;
    case DType::Q6_K: return dot_q6_k<T, P>;
    default: return nullptr;
  }
}

template <bool P>
DotKernel kernel_for_count(DType type, int count) {
  static_assert(kMaxTokensPerDot == 4);
  return count == 4   ? kernel_for<4, P>(type)
         : count == 3 ? kernel_for<3, P>(type)
         : count == 2 ? kernel_for<2, P>(type)
                      : kernel_for<1, P>(type);
}

}  // namespace

bool has_quantized_dot(DType type) { return kernel_for<1, true>(type) != nullptr; }

void dot_quantized(DType type, const void* row, const QuantizedActivations* tokens, int count, int64_t n, float* out,
                   bool precise) {
  DotKernel kernel = precise ? kernel_for_count<true>(type, count) : kernel_for_count<false>(type, count);
  kernel(row, tokens, n, out);
}

#else  // no AVX2: every type takes the float path

bool has_quantized_dot(DType) { return false; }
void dot_quantized(DType, const void*, const QuantizedActivations*, int, int64_t, float*, bool) {}

#endif

}  // namespace tandem
