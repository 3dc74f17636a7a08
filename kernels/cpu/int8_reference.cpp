// The scalar side of the int8 path: activation quantization, decoding GGML
// blocks into unsigned integers, and the reference dot product that every SIMD
// kernel must match bit for bit.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels/cpu/int8_decode.h"
#include "kernels/cpu/int8_layout.h"
#include "kernels/int8_matmul.h"

namespace tandem {
namespace int8 {

BlockInts decode_block(DType type, const void* row, int64_t block) {
  switch (type) {
    case DType::Q4_0: return decode_block_of<DType::Q4_0>(row, block);
    case DType::Q4_1: return decode_block_of<DType::Q4_1>(row, block);
    case DType::Q5_0: return decode_block_of<DType::Q5_0>(row, block);
    case DType::Q8_0: return decode_block_of<DType::Q8_0>(row, block);
    case DType::Q4_K: return decode_block_of<DType::Q4_K>(row, block);
    case DType::Q6_K: return decode_block_of<DType::Q6_K>(row, block);
    default: throw std::invalid_argument("no int8 kernel for this weight type");
  }
}

float block_scale(DType type, const BlockInts& b, int half) {
  const float d = fp16_to_fp32(b.d);
  if (type == DType::Q4_K) return d * float(b.sc[0]);
  if (type == DType::Q6_K) return d * float(int8_t(b.sc[half]));
  return d;
}

float block_bias(DType type, const BlockInts& b) {
  if (type == DType::Q4_K) return fp16_to_fp32(b.second) * float(b.m);
  return fp16_to_fp32(b.second);  // Q4_1's m
}

}  // namespace int8

bool has_int8_kernel(DType type) { return int8::layout_of(type).blocks > 0; }

bool has_float_kernel(DType type) { return int8::float_element_bytes(type) > 0; }

float dot_float_reference(DType type, const void* row, const float* x, int64_t n) {
  if (!has_float_kernel(type)) throw std::invalid_argument("no float kernel for this weight type");
  const auto* bytes = static_cast<const uint8_t*>(row);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t k = 0; k < n; ++k) {
    float w;
    if (type == DType::F32) {
      std::memcpy(&w, bytes + 4 * k, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * k, 2);
      w = type == DType::F16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
    }
    acc[k % 4] = std::fma(w, x[k], acc[k % 4]);
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

void quantize_int8(const float* x, int64_t n, Int8Block* out) {
  for (int64_t b = 0; b < n / int8::kBlock; ++b) {
    const float* xb = x + b * int8::kBlock;
    Int8Block& o = out[b];
    float amax = 0.0f;
    for (int i = 0; i < int8::kBlock; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    o.d = amax / 127.0f;
    const float inv = o.d > 0.0f ? 1.0f / o.d : 0.0f;
    int sums[2] = {0, 0};
    for (int i = 0; i < int8::kBlock; ++i) {
      const float v = std::clamp(std::nearbyint(xb[i] * inv), -127.0f, 127.0f);
      o.q[i] = int8_t(v);
      sums[i / 16] += o.q[i];
    }
    o.sum[0] = int16_t(sums[0]);
    o.sum[1] = int16_t(sums[1]);
    o.dsum = o.d * float(sums[0] + sums[1]);
  }
}

float dot_int8_reference(DType type, const void* row, const Int8Block* x, int64_t n) {
  const int8::Layout layout = int8::layout_of(type);
  if (layout.blocks == 0) throw std::invalid_argument("no int8 kernel for this weight type");
  float acc = 0.0f, bias = 0.0f;
  for (int64_t blk = 0; blk < n / int8::kBlock; ++blk) {
    const int8::BlockInts b = int8::decode_block(type, row, blk);
    const Int8Block& a = x[blk];
    int32_t sums[2] = {0, 0};
    for (int i = 0; i < int8::kBlock; ++i) sums[i / 16] += int32_t(b.u[i]) * a.q[i];
    if (layout.halves) {
      for (int h = 0; h < 2; ++h) {
        const int32_t s = sums[h] - layout.zero * a.sum[h];
        acc = std::fma(float(s), int8::block_scale(type, b, h) * a.d, acc);
      }
    } else {
      const int32_t x_sum = a.sum[0] + a.sum[1];
      const int32_t s = sums[0] + sums[1] - layout.zero * x_sum;
      acc = std::fma(float(s), int8::block_scale(type, b, 0) * a.d, acc);
      if (layout.bias_sign != 0) bias = std::fma(int8::block_bias(type, b), a.dsum, bias);
    }
  }
  return layout.bias_sign > 0 ? acc + bias : layout.bias_sign < 0 ? acc - bias : acc;
}

}  // namespace tandem
