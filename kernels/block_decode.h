#pragma once
// GGML blocks decoded 32 values at a time, written once for the CPU and the GPU:
// nvcc compiles every function here for both (TANDEM_HD), so the CPU tests
// exercise the very arithmetic the CUDA kernels run. A block of the simple
// formats is one group of 32 values; a K-format super-block is eight.
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/ggml_blocks.h"
#include "kernels/host_device.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#elif defined(__F16C__)
#include <immintrin.h>
#endif

namespace tandem::blocks {

using namespace ggml;

/// Values per group.
constexpr int kGroup = 32;

/// IEEE half to float (exact on every path).
TANDEM_HD float half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#elif defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_fp32(h);
#endif
}

/// bfloat16 to float.
TANDEM_HD float bfloat_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(uint32_t(h) << 16);
#else
  return bf16_to_fp32(h);
#endif
}

// Group g of each format writes y[0..31] = values 32g .. 32g+31 of its block.

TANDEM_HD void decode_group(const BlockQ4_0& b, int, float* y) {
  const float d = half_to_float(b.d);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = float((b.qs[j] & 0x0f) - 8) * d;
    y[j + kQK / 2] = float((b.qs[j] >> 4) - 8) * d;
  }
}

TANDEM_HD void decode_group(const BlockQ4_1& b, int, float* y) {
  const float d = half_to_float(b.d), m = half_to_float(b.m);
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = float(b.qs[j] & 0x0f) * d + m;
    y[j + kQK / 2] = float(b.qs[j] >> 4) * d + m;
  }
}

// The fifth bit of value j of a Q5 block is bit j of its four qh bytes, little-endian.
TANDEM_HD uint32_t fifth_bits(const uint8_t* qh) {
  return uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
}

TANDEM_HD void decode_group(const BlockQ5_0& b, int, float* y) {
  const float d = half_to_float(b.d);
  const uint32_t qh = fifth_bits(b.qh);
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = (b.qs[j] & 0x0f) | int((qh >> j) & 1) << 4;
    const int hi = (b.qs[j] >> 4) | int((qh >> (j + 16)) & 1) << 4;
    y[j] = float(lo - 16) * d;
    y[j + kQK / 2] = float(hi - 16) * d;
  }
}

TANDEM_HD void decode_group(const BlockQ5_1& b, int, float* y) {
  const float d = half_to_float(b.d), m = half_to_float(b.m);
  const uint32_t qh = fifth_bits(b.qh);
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = (b.qs[j] & 0x0f) | int((qh >> j) & 1) << 4;
    const int hi = (b.qs[j] >> 4) | int((qh >> (j + 16)) & 1) << 4;
    y[j] = float(lo) * d + m;
    y[j + kQK / 2] = float(hi) * d + m;
  }
}

TANDEM_HD void decode_group(const BlockQ8_0& b, int, float* y) {
  const float d = half_to_float(b.d);
  for (int j = 0; j < kQK; ++j) y[j] = float(b.qs[j]) * d;
}

/// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block, packed into 12 bytes.
TANDEM_HD void scale_min_k4(int j, const uint8_t* q, int& scale, int& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4;
    min = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
  }
}

// Sub-block g of a Q4_K: the low nibbles of bytes 32(g/2)... for even g, the high ones for odd g.
TANDEM_HD void decode_group(const BlockQ4_K& b, int g, float* y) {
  int sc, m;
  scale_min_k4(g, b.scales, sc, m);
  const float d = half_to_float(b.d) * float(sc), min = half_to_float(b.dmin) * float(m);
  const uint8_t* q = b.qs + 32 * (g / 2);
  const int shift = 4 * (g % 2);
  for (int l = 0; l < 32; ++l) y[l] = d * float((q[l] >> shift) & 0x0f) - min;
}

// As Q4_K, with the fifth bit of value l of sub-block g in bit g of qh[l].
TANDEM_HD void decode_group(const BlockQ5_K& b, int g, float* y) {
  int sc, m;
  scale_min_k4(g, b.scales, sc, m);
  const float d = half_to_float(b.d) * float(sc), min = half_to_float(b.dmin) * float(m);
  const uint8_t* q = b.qs + 32 * (g / 2);
  const int shift = 4 * (g % 2);
  for (int l = 0; l < 32; ++l) y[l] = d * float(((q[l] >> shift) & 0x0f) + ((b.qh[l] >> g) & 1) * 16) - min;
}

// A Q6_K super-block is two halves of 128 values; quarter k of a half takes the low (k < 2)
// or high nibbles of ql[l + 32 (k % 2)] and bits 2k.. of qh[l], with a scale per 16 values.
TANDEM_HD void decode_group(const BlockQ6_K& b, int g, float* y) {
  const int half = g / 4, k = g % 4;
  const uint8_t* ql = b.ql + 64 * half + 32 * (k % 2);
  const uint8_t* qh = b.qh + 32 * half;
  const int8_t* sc = b.scales + 8 * half + 2 * k;
  const float d = half_to_float(b.d);
  const int shift = 4 * (k / 2);
  for (int l = 0; l < 32; ++l) {
    const int q = int(((ql[l] >> shift) & 0x0f) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
    y[l] = d * float(sc[l / 16]) * float(q);
  }
}

/// Group `group` (32 values from 32·group on) of a row of `type` that starts at `row`.
TANDEM_HD void decode_row_group(DType type, const void* row, int64_t group, float* y) {
  const char* p = static_cast<const char*>(row);
  switch (type) {
    case DType::F32:
      for (int j = 0; j < kGroup; ++j) y[j] = reinterpret_cast<const float*>(p)[group * kGroup + j];
      return;
    case DType::F16:
      for (int j = 0; j < kGroup; ++j) y[j] = half_to_float(reinterpret_cast<const uint16_t*>(p)[group * kGroup + j]);
      return;
    case DType::BF16:
      for (int j = 0; j < kGroup; ++j) y[j] = bfloat_to_float(reinterpret_cast<const uint16_t*>(p)[group * kGroup + j]);
      return;
    case DType::Q4_0: return decode_group(reinterpret_cast<const BlockQ4_0*>(p)[group], 0, y);
    case DType::Q4_1: return decode_group(reinterpret_cast<const BlockQ4_1*>(p)[group], 0, y);
    case DType::Q5_0: return decode_group(reinterpret_cast<const BlockQ5_0*>(p)[group], 0, y);
    case DType::Q5_1: return decode_group(reinterpret_cast<const BlockQ5_1*>(p)[group], 0, y);
    case DType::Q8_0: return decode_group(reinterpret_cast<const BlockQ8_0*>(p)[group], 0, y);
    case DType::Q4_K: return decode_group(reinterpret_cast<const BlockQ4_K*>(p)[group / 8], int(group % 8), y);
    case DType::Q5_K: return decode_group(reinterpret_cast<const BlockQ5_K*>(p)[group / 8], int(group % 8), y);
    case DType::Q6_K: return decode_group(reinterpret_cast<const BlockQ6_K*>(p)[group / 8], int(group % 8), y);
  }
}

}  // namespace tandem::blocks
