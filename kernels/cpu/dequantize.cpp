// Decoding of GGML block formats, through the group decoders that the CUDA
// kernels share (kernels/block_decode.h); they follow the reference formulas, so
// results match the `gguf` Python package's dequantization.
#include "kernels/dequantize.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/block_decode.h"

namespace tandem {
namespace {

template <typename Block, int kElems>
void decode_blocks(const void* src, float* dst, int64_t n) {
  const Block* blocks = static_cast<const Block*>(src);
  for (int64_t i = 0; i < n / kElems; ++i)
    for (int g = 0; g < kElems / blocks::kGroup; ++g) blocks::decode_group(blocks[i], g, dst + i * kElems + g * 32);
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case DType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case DType::F16: {
      const uint16_t* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = blocks::half_to_float(h[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    case DType::Q4_0: return decode_blocks<ggml::BlockQ4_0, ggml::kQK>(src, dst, n);
    case DType::Q4_1: return decode_blocks<ggml::BlockQ4_1, ggml::kQK>(src, dst, n);
    case DType::Q5_0: return decode_blocks<ggml::BlockQ5_0, ggml::kQK>(src, dst, n);
    case DType::Q5_1: return decode_blocks<ggml::BlockQ5_1, ggml::kQK>(src, dst, n);
    case DType::Q8_0: return decode_blocks<ggml::BlockQ8_0, ggml::kQK>(src, dst, n);
    case DType::Q4_K: return decode_blocks<ggml::BlockQ4_K, ggml::kQKK>(src, dst, n);
    case DType::Q5_K: return decode_blocks<ggml::BlockQ5_K, ggml::kQKK>(src, dst, n);
    case DType::Q6_K: return decode_blocks<ggml::BlockQ6_K, ggml::kQKK>(src, dst, n);
  }
  throw std::invalid_argument("dequantize_row: unsupported type " + std::to_string(uint32_t(type)));
}

}  // namespace tandem
