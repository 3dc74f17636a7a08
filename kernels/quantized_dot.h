#pragma once
// Dot products of quantized weight rows with int16-quantized activations.
//
// Activations are quantized per block of 32 values with one float scale
// d = amax / 32767 as two int16 terms: x = d * (hi + lo / 32768), where lo is
// the rounding residual of hi. That keeps about 31 bits of each value, more
// than float's 24, so models with outlier activations (Gemma) lose nothing;
// each token is quantized on its own, so results stay independent of the
// batch. Weights stay in their block format and are widened to int16 once;
// both products are summed exactly in int32, then scaled in float per block.
#include <cstdint>

#include "kernels/dtype.h"

namespace tandem {

/// Values per activation block.
constexpr int kActivationBlock = 32;

/// Whether `type` has an integer dot product on this build (AVX2); otherwise use the float path.
bool has_quantized_dot(DType type);

/// Quantizes n values (n a multiple of 32): q[2n] int16 (per block, 32 high terms then
/// 32 low terms), scale[n/32], and sum[n/32] the plain sum of each block's values
/// (what formats with a per-block minimum need).
void quantize_activations(const float* x, int64_t n, int16_t* q, float* scale, float* sum);

/// Dot product of one weight row of `type` (n values) with activations quantized as above.
float dot_quantized(DType type, const void* row, const int16_t* q, const float* scale, const float* sum, int64_t n);

}  // namespace tandem
