#pragma once
// The packed layout of the int8 kernels (see kernels/int8_matmul.h) and the
// decoding of one GGML block into unsigned integers plus scales, shared by the
// packer, the scalar reference and (as constants) the SIMD kernels.
//
// A group is 16 rows. A plane is 64 bytes: byte 4*r + i holds value 4*c + i of
// row r for one chunk c (0..7) of a 32-value block. A unit is one block (simple
// formats) or one super-block of 8 blocks (K formats). Byte offsets in a unit:
//
//   Q4_0  d[16] fp16 @0 | nibbles @32                            288 bytes
//   Q4_1  d[16] @0 | m[16] @32 | nibbles @64                      320
//   Q5_0  d[16] @0 | nibbles @32 | fifth bits @288 (64 B)         352
//   Q8_0  d[16] @0 | 8 planes of bytes @32                        544
//   Q4_K  d[16] @0 | dmin[16] @32 | sc[8][16] @64 | m[8][16] @192 | nibbles[8] @320   2368
//   Q6_K  d[16] @0 | sc[16][16] int8 @32 | nibbles[8] @288 | high bits[8] @2336     3360
//
// "nibbles" of a block are 4 planes (256 bytes): plane k holds chunk k in its
// low nibbles and chunk k + 4 in its high ones. Q5_0's fifth bits: bit c of
// byte p is the fifth bit of chunk c. Q6_K's high bits of a block are two
// planes (chunks 0-3, then 4-7), bits 2c..2c+1 of byte p for chunk c of each.
// Scales are per row (16 in a row), so an 8-lane kernel takes half of them.
#include <cstdint>

#include "kernels/dtype.h"

namespace tandem::int8 {

constexpr int kGroupRows = 16;
constexpr int kBlock = 32;
constexpr int kPlane = 64;
constexpr int kNibbleBytes = 4 * kPlane;  // one block's nibbles

/// How a format's packed unit is laid out and how its integers become values.
struct Layout {
  int blocks = 0;       // 32-value blocks per unit
  int unit_bytes = 0;   // bytes per unit of a group
  int zero = 0;         // zero point: weight value = scale * (u - zero) [+ or - bias]
  int bias_sign = 0;    // Q4_1: +1 (value + m), Q4_K: -1 (value - dmin*m), else 0
  bool halves = false;  // a scale per 16 values (Q6_K)
  bool wide = false;    // unsigned weights use all 8 bits (Q8_0)
  // Byte offsets inside a unit (-1: absent).
  int d = 0, second = -1, sc = -1, m = -1, nibbles = -1, high = -1, bytes = -1;
};

constexpr Layout layout_of(DType type) {
  switch (type) {
    case DType::Q4_0: return {1, 288, 8, 0, false, false, 0, -1, -1, -1, 32, -1, -1};
    case DType::Q4_1: return {1, 320, 0, +1, false, false, 0, 32, -1, -1, 64, -1, -1};
    case DType::Q5_0: return {1, 352, 16, 0, false, false, 0, -1, -1, -1, 32, 288, -1};
    case DType::Q8_0: return {1, 544, 128, 0, false, true, 0, -1, -1, -1, -1, -1, 32};
    case DType::Q4_K: return {8, 2368, 0, -1, false, false, 0, 32, 64, 192, 320, -1, -1};
    case DType::Q6_K: return {8, 3360, 32, 0, true, false, 0, -1, 32, -1, 288, 2336, -1};
    default: return {};
  }
}

/// Float weights (F32, F16, BF16) go to the float kernels (float_simd.h): bytes per value, else 0.
constexpr int float_element_bytes(DType type) {
  return type == DType::F32 ? 4 : type == DType::F16 || type == DType::BF16 ? 2 : 0;
}

/// One row's 32-value block as unsigned integers and the raw fields its scales come from.
struct BlockInts {
  uint8_t u[kBlock];    // weight = scale * (u - zero) [± bias]
  uint16_t d = 0;       // fp16: the block's scale (the super-block's for K formats)
  uint16_t second = 0;  // fp16: Q4_1's m, Q4_K's dmin
  uint8_t sc[2] = {};   // Q4_K: 6-bit scale in sc[0]; Q6_K: the two halves' int8 scales
  uint8_t m = 0;        // Q4_K: 6-bit min
};

/// Decodes block `block` (32 values) of a row of `type`.
BlockInts decode_block(DType type, const void* row, int64_t block);

/// The float scale of half `half` of the block (both halves share it unless the layout has halves).
float block_scale(DType type, const BlockInts& b, int half);

/// The float bias of the block (formats with bias_sign != 0).
float block_bias(DType type, const BlockInts& b);

}  // namespace tandem::int8
