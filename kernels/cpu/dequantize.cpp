// Decoding of GGML block formats. Each block type is a plain struct with its
// layout; the loops follow the reference formulas so results match the `gguf`
// Python package's dequantization.
#include "kernels/dequantize.h"

#include <cstring>
#include <stdexcept>

#include "kernels/cpu/ggml_blocks.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace tandem {
namespace {

inline float half(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_fp32(h);
#endif
}

using namespace ggml;

void decode(const BlockQ4_0* b, float* y) {
  float d = half(b->d);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = float((b->qs[j] & 0x0f) - 8) * d;
    y[j + kQK / 2] = float((b->qs[j] >> 4) - 8) * d;
  }
}

void decode(const BlockQ4_1* b, float* y) {
  float d = half(b->d), m = half(b->m);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = float(b->qs[j] & 0x0f) * d + m;
    y[j + kQK / 2] = float(b->qs[j] >> 4) * d + m;
  }
}

// The fifth bit of value j is bit j of qh (values 0..31 in order).
inline uint32_t high_bits(const uint8_t qh[4]) {
  uint32_t h;
  std::memcpy(&h, qh, 4);
  return h;
}

void decode(const BlockQ5_0* b, float* y) {
  float d = half(b->d);
  uint32_t qh = high_bits(b->qh);
  for (int j = 0; j < kQK / 2; ++j) {
    int lo = (b->qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
    int hi = (b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = float(lo - 16) * d;
    y[j + kQK / 2] = float(hi - 16) * d;
  }
}

void decode(const BlockQ5_1* b, float* y) {
  float d = half(b->d), m = half(b->m);
  uint32_t qh = high_bits(b->qh);
  for (int j = 0; j < kQK / 2; ++j) {
    int lo = (b->qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
    int hi = (b->qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = float(lo) * d + m;
    y[j + kQK / 2] = float(hi) * d + m;
  }
}

void decode(const BlockQ8_0* b, float* y) {
  float d = half(b->d);
  for (int j = 0; j < kQK; ++j) y[j] = float(b->qs[j]) * d;
}

// Sub-block j (0..7) of a Q4_K/Q5_K super-block has a 6-bit scale and min packed into 12 bytes.
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void decode(const BlockQ4_K* b, float* y) {
  float d = half(b->d), dmin = half(b->dmin);
  const uint8_t* q = b->qs;
  for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, q += 32) {
    uint8_t sc, m;
    scale_min_k4(is, b->scales, sc, m);
    float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, b->scales, sc, m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0x0f) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
  }
}

void decode(const BlockQ5_K* b, float* y) {
  float d = half(b->d), dmin = half(b->dmin);
  const uint8_t* ql = b->qs;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < kQKK; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, m;
    scale_min_k4(is, b->scales, sc, m);
    float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, b->scales, sc, m);
    float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * float((ql[l] & 0x0f) + (b->qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * float((ql[l] >> 4) + (b->qh[l] & u2 ? 16 : 0)) - m2;
  }
}

void decode(const BlockQ6_K* b, float* y) {
  float d = half(b->d);
  const uint8_t* ql = b->ql;
  const uint8_t* qh = b->qh;
  const int8_t* sc = b->scales;
  for (int n = 0; n < kQKK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = int((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = int((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * float(sc[is + 0]) * float(q1);
      y[l + 32] = d * float(sc[is + 2]) * float(q2);
      y[l + 64] = d * float(sc[is + 4]) * float(q3);
      y[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
  }
}

template <typename Block, int kElems>
void decode_blocks(const void* src, float* dst, int64_t n) {
  const Block* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / kElems; ++i) decode(&blocks[i], dst + i * kElems);
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const uint16_t* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = half(h[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    case DType::Q4_0: return decode_blocks<BlockQ4_0, kQK>(src, dst, n);
    case DType::Q4_1: return decode_blocks<BlockQ4_1, kQK>(src, dst, n);
    case DType::Q5_0: return decode_blocks<BlockQ5_0, kQK>(src, dst, n);
    case DType::Q5_1: return decode_blocks<BlockQ5_1, kQK>(src, dst, n);
    case DType::Q8_0: return decode_blocks<BlockQ8_0, kQK>(src, dst, n);
    case DType::Q4_K: return decode_blocks<BlockQ4_K, kQKK>(src, dst, n);
    case DType::Q5_K: return decode_blocks<BlockQ5_K, kQKK>(src, dst, n);
    case DType::Q6_K: return decode_blocks<BlockQ6_K, kQKK>(src, dst, n);
  }
  throw std::invalid_argument("dequantize_row: unsupported type " + std::to_string(uint32_t(type)));
}

}  // namespace tandem
