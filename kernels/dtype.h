#pragma once
// Element types of weight tensors, with the GGML numbering that GGUF files use.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tandem {

/// A tensor element type; values are the GGML type ids stored in GGUF files.
enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

/// Block layout of a type: `block_elems` values are stored in `block_bytes` bytes.
struct DTypeInfo {
  std::string_view name;
  int block_elems;
  int block_bytes;
};

/// Layout of a supported type, or nullopt for an id tandem cannot read.
std::optional<DTypeInfo> dtype_info(uint32_t ggml_type);

/// Layout of a supported type (the type must be supported).
DTypeInfo dtype_info(DType type);

/// Bytes taken by one row of `elems` values (elems must be a multiple of the block size).
size_t row_bytes(DType type, int64_t elems);

/// IEEE half to float.
float fp16_to_fp32(uint16_t h);

/// bfloat16 to float.
inline float bf16_to_fp32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

}  // namespace tandem
