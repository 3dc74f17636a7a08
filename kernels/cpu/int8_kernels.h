#pragma once
// The int8 group kernels of each instruction set (see int8_simd.h).
#include <cstdint>

#include "kernels/dtype.h"
#include "kernels/int8_matmul.h"

namespace tandem::int8 {

/// Computes one group of 16 rows for `tokens` tokens: out[t * 16 + r].
using GroupKernelFn = void (*)(const uint8_t* group, int64_t units, const Int8Block* const* x, float* out);

/// Most tokens one AVX-512 / AVX2 kernel call takes.
constexpr int kAvx512MaxTokens = 8;
constexpr int kAvx2MaxTokens = 4;

/// The AVX-512 VNNI kernel of `type` for 1..kAvx512MaxTokens tokens (nullptr: no kernel).
GroupKernelFn avx512_kernel(DType type, int tokens);
/// The AVX2 kernel of `type` for 1..kAvx2MaxTokens tokens.
GroupKernelFn avx2_kernel(DType type, int tokens);

}  // namespace tandem::int8
