// AVX2 integer dot products per GGML block format. Each block's weights are
// widened to int16 and multiplied with the activations by _mm256_madd_epi16
// (exact int32 sums); the block's float scales are applied once per 16 or 32
// values. Block layouts as in dequantize.cpp.
#include "kernels/quantized_dot.h"

#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define TANDEM_INT_DOT 1
#endif

namespace tandem {

void quantize_activations(const float* x, int64_t n, int16_t* q, float* scale, int32_t* sum) {
  for (int64_t b = 0; b < n / kActivationBlock; ++b) {
    const float* xb = x + b * kActivationBlock;
    float amax = 0.0f;
    for (int i = 0; i < kActivationBlock; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    float d = amax / 32767.0f;
    float inv = d > 0.0f ? 1.0f / d : 0.0f;
    int32_t s = 0;
    for (int i = 0; i < kActivationBlock; ++i) {
      int16_t v = int16_t(std::nearbyint(xb[i] * inv));
      q[b * kActivationBlock + i] = v;
      s += v;
    }
    scale[b] = d;
    sum[b] = s;
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

// Sum of 16 int16 weight × activation products, as 8 int32 lanes.
inline __m256i madd16(__m128i w8_signed, const int16_t* x) {
  return _mm256_madd_epi16(_mm256_cvtepi8_epi16(w8_signed), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)));
}

// 32 signed int8 weights (as one 256-bit vector) against 32 activations.
inline __m256i madd32(__m256i w8, const int16_t* x) {
  return _mm256_add_epi32(madd16(_mm256_castsi256_si128(w8), x), madd16(_mm256_extracti128_si256(w8, 1), x + 16));
}

inline __m256 scaled(__m256i products, float s, __m256 acc) {
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(products), _mm256_set1_ps(s), acc);
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

struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };

float dot_q8_0(const void* row, const int16_t* q, const float* scale, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(row);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs));
    acc = scaled(madd32(w, q + i * 32), half(b[i].d) * scale[i], acc);
  }
  return hsum(acc);
}

float dot_q4_0(const void* row, const int16_t* q, const float* scale, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(row);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i w = _mm256_sub_epi8(nibbles(b[i].qs), _mm256_set1_epi8(8));
    acc = scaled(madd32(w, q + i * 32), half(b[i].d) * scale[i], acc);
  }
  return hsum(acc);
}

float dot_q4_1(const void* row, const int16_t* q, const float* scale, const int32_t* sum, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(row);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;  // sum of m * x over the row
  for (int64_t i = 0; i < n / 32; ++i) {
    acc = scaled(madd32(nibbles(b[i].qs), q + i * 32), half(b[i].d) * scale[i], acc);
    mins += half(b[i].m) * scale[i] * float(sum[i]);
  }
  return hsum(acc) + mins;
}

float dot_q5_0(const void* row, const int16_t* q, const float* scale, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(row);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 32; ++i) {
    __m256i w = _mm256_or_si256(nibbles(b[i].qs), fifth_bits(b[i].qh));
    w = _mm256_sub_epi8(w, _mm256_set1_epi8(16));
    acc = scaled(madd32(w, q + i * 32), half(b[i].d) * scale[i], acc);
  }
  return hsum(acc);
}

inline void scale_min_k4(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

float dot_q4_k(const void* row, const int16_t* q, const float* scale, const int32_t* sum, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(row);
  const __m256i mask = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  float mins = 0.0f;
  for (int64_t i = 0; i < n / 256; ++i) {
    float d = half(b[i].d), dmin = half(b[i].dmin);
    for (int j = 0; j < 4; ++j) {
      __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qs + 32 * j));
      __m256i lo = _mm256_and_si256(bytes, mask), hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
      int64_t blk = i * 8 + 2 * j;  // activation block of the low nibbles; blk + 1 for the high ones
      uint8_t sc, m;
      scale_min_k4(2 * j, b[i].scales, sc, m);
      acc = scaled(madd32(lo, q + blk * 32), d * float(sc) * scale[blk], acc);
      mins += dmin * float(m) * scale[blk] * float(sum[blk]);
      scale_min_k4(2 * j + 1, b[i].scales, sc, m);
      acc = scaled(madd32(hi, q + (blk + 1) * 32), d * float(sc) * scale[blk + 1], acc);
      mins += dmin * float(m) * scale[blk + 1] * float(sum[blk + 1]);
    }
  }
  return hsum(acc) - mins;
}

float dot_q6_k(const void* row, const int16_t* q, const float* scale, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(row);
  const __m256i low4 = _mm256_set1_epi8(0x0f), bits45 = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    float d = half(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = b[i].ql + 64 * h;
      const int8_t* sc = b[i].scales + 8 * h;
      __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh + 32 * h));
      // The four groups of 32 values of this half, each 6 bits minus 32.
      __m256i groups[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
          _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
      };
      for (int g = 0; g < 4; ++g) {
        __m256i w = _mm256_sub_epi8(groups[g], bias);
        int64_t blk = i * 8 + h * 4 + g;
        const int16_t* x = q + blk * 32;
        // Each half of the group (16 values) has its own scale.
        acc = scaled(madd16(_mm256_castsi256_si128(w), x), d * float(sc[2 * g]) * scale[blk], acc);
        acc = scaled(madd16(_mm256_extracti128_si256(w, 1), x + 16), d * float(sc[2 * g + 1]) * scale[blk], acc);
      }
    }
  }
  return hsum(acc);
}

}  // namespace

bool has_quantized_dot(DType type) {
  switch (type) {
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q8_0: case DType::Q4_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

float dot_quantized(DType type, const void* row, const int16_t* q, const float* scale, const int32_t* sum, int64_t n) {
  switch (type) {
    case DType::Q4_0: return dot_q4_0(row, q, scale, n);
    case DType::Q4_1: return dot_q4_1(row, q, scale, sum, n);
    case DType::Q5_0: return dot_q5_0(row, q, scale, n);
    case DType::Q8_0: return dot_q8_0(row, q, scale, n);
    case DType::Q4_K: return dot_q4_k(row, q, scale, sum, n);
    case DType::Q6_K: return dot_q6_k(row, q, scale, n);
    default: return 0.0f;  // callers check has_quantized_dot first
  }
}

#else  // no AVX2: every type takes the float path

bool has_quantized_dot(DType) { return false; }
float dot_quantized(DType, const void*, const int16_t*, const float*, const int32_t*, int64_t) { return 0.0f; }

#endif

}  // namespace tandem
