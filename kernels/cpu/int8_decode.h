#pragma once
// Decoding one GGML block into the int8 path's unsigned integers and raw scale
// fields (BlockInts, int8_layout.h), a template per type so that the packer's
// inner loops compile without a branch per value.
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/int8_layout.h"
#include "kernels/ggml_blocks.h"

namespace tandem::int8 {

// The 6-bit scale and min of block j (0..7) of a Q4_K super-block.
inline void k4_scale_min(const uint8_t* s, int j, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = uint8_t((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
    m = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Low nibbles of 16 bytes give values 0-15, high nibbles values 16-31.
inline void split_nibbles(const uint8_t* qs, uint8_t* u) {
  for (int l = 0; l < 16; ++l) {
    u[l] = qs[l] & 0x0f;
    u[l + 16] = qs[l] >> 4;
  }
}

template <DType Type>
inline BlockInts decode_block_of(const void* row, int64_t block) {
  BlockInts out;
  switch (Type) {
    case DType::Q4_0: {
      const auto& b = static_cast<const ggml::BlockQ4_0*>(row)[block];
      out.d = b.d;
      split_nibbles(b.qs, out.u);
      break;
    }
    case DType::Q4_1: {
      const auto& b = static_cast<const ggml::BlockQ4_1*>(row)[block];
      out.d = b.d;
      out.second = b.m;
      split_nibbles(b.qs, out.u);
      break;
    }
    case DType::Q5_0: {
      const auto& b = static_cast<const ggml::BlockQ5_0*>(row)[block];
      uint32_t qh;
      std::memcpy(&qh, b.qh, 4);
      out.d = b.d;
      split_nibbles(b.qs, out.u);
      for (int l = 0; l < kBlock; ++l) out.u[l] = uint8_t(out.u[l] | ((qh >> l) & 1) << 4);
      break;
    }
    case DType::Q8_0: {
      const auto& b = static_cast<const ggml::BlockQ8_0*>(row)[block];
      out.d = b.d;
      for (int l = 0; l < kBlock; ++l) out.u[l] = uint8_t(b.qs[l] + 128);
      break;
    }
    case DType::Q4_K: {
      const auto& b = static_cast<const ggml::BlockQ4_K*>(row)[block / 8];
      const int j = int(block % 8);
      out.d = b.d;
      out.second = b.dmin;
      k4_scale_min(b.scales, j, out.sc[0], out.m);
      // Blocks 2i and 2i+1 are the low and high nibbles of bytes 32i..32i+31.
      for (int l = 0; l < kBlock; ++l) out.u[l] = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;
      break;
    }
    case DType::Q6_K: {
      const auto& b = static_cast<const ggml::BlockQ6_K*>(row)[block / 8];
      const int j = int(block % 8);
      // Block j is group g = j % 4 of 32 values in half h = j / 4 of the super-block.
      const int h = j / 4, g = j % 4;
      const uint8_t* ql = b.ql + 64 * h + 32 * (g % 2);
      const uint8_t* qh = b.qh + 32 * h;
      for (int l = 0; l < kBlock; ++l)
        out.u[l] = uint8_t(((ql[l] >> (4 * (g / 2))) & 0x0f) | ((qh[l] >> (2 * g)) & 3) << 4);
      out.d = b.d;
      out.sc[0] = uint8_t(b.scales[2 * j]);
      out.sc[1] = uint8_t(b.scales[2 * j + 1]);
      break;
    }
    default: throw std::invalid_argument("no int8 kernel for this weight type");
  }
  return out;
}

}  // namespace tandem::int8
