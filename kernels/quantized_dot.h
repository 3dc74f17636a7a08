#pragma once
// Dot products of quantized weight rows with int16-quantized activations.
//
// Activations are quantized per block of 32 values to int16 with one float
// scale (amax / 32767): a relative error near 1e-5, far below what changes a
// logit, and every token is quantized on its own, so results stay independent
// of the batch. Weights stay in their block format and are widened to int16;
// products are summed exactly in int32, then scaled in float once per block.
#include <cstdint>

#include "kernels/dtype.h"

namespace tandem {

/// Values per activation block.
constexpr int kActivationBlock = 32;

/// Whether `type` has an integer dot product on this build (AVX2); otherwise use the float path.
bool has_quantized_dot(DType type);

/// Quantizes n values (n a multiple of 32): q[n] int16, scale[n/32], and sum[n/32] = scale
/// times the sum of q in each block (what formats with a per-block minimum need).
void quantize_activations(const float* x, int64_t n, int16_t* q, float* scale, float* sum);

/// Dot product of one weight row of `type` (n values) with quantized activations.
float dot_quantized(DType type, const void* row, const int16_t* q, const float* scale, const float* sum, int64_t n);

}  // namespace tandem
