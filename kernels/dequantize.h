#pragma once
// Quantized blocks to float32. Layouts follow GGML's block formats.
#include <cstdint>

#include "kernels/dtype.h"

namespace tandem {

/// Writes `n` floats decoded from `src` (n values of `type`, n a multiple of the block size).
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

}  // namespace tandem
