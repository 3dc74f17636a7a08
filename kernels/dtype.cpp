#include "kernels/dtype.h"

#include <cstring>
#include <stdexcept>

namespace tandem {

std::optional<DTypeInfo> dtype_info(uint32_t ggml_type) {
  switch (DType(ggml_type)) {
    case DType::F32: return DTypeInfo{"F32", 1, 4};
    case DType::F16: return DTypeInfo{"F16", 1, 2};
    case DType::BF16: return DTypeInfo{"BF16", 1, 2};
    case DType::Q4_0: return DTypeInfo{"Q4_0", 32, 18};
    case DType::Q4_1: return DTypeInfo{"Q4_1", 32, 20};
    case DType::Q5_0: return DTypeInfo{"Q5_0", 32, 22};
    case DType::Q5_1: return DTypeInfo{"Q5_1", 32, 24};
    case DType::Q8_0: return DTypeInfo{"Q8_0", 32, 34};
    case DType::Q4_K: return DTypeInfo{"Q4_K", 256, 144};
    case DType::Q5_K: return DTypeInfo{"Q5_K", 256, 176};
    case DType::Q6_K: return DTypeInfo{"Q6_K", 256, 210};
  }
  return std::nullopt;
}

DTypeInfo dtype_info(DType type) {
  auto info = dtype_info(uint32_t(type));
  if (!info) throw std::invalid_argument("unsupported tensor type " + std::to_string(uint32_t(type)));
  return *info;
}

size_t row_bytes(DType type, int64_t elems) {
  DTypeInfo info = dtype_info(type);
  return size_t(elems / info.block_elems) * size_t(info.block_bytes);
}

float fp16_to_fp32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int shift = 0;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ff;
      bits = sign | uint32_t(127 - 15 - shift + 1) << 23 | mantissa << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace tandem
