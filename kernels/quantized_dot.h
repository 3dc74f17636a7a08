#pragma once
// Dot products of quantized weight rows with quantized activations.
//
// Activations are quantized per block of 32 values with one float scale
// d = amax / 32767 as two int16 terms: x = d * (hi + lo / 32768), where lo is
// the rounding residual of hi. That keeps about 31 bits of each value, more
// than float's 24, so models with outlier activations (Gemma) lose nothing;
// each token is quantized on its own. Weights stay in their block format and
// each block is widened to int16 once for up to kMaxTokensPerDot tokens; the
// products are summed exactly in int32, then scaled in float per block. A
// token's result is bit-identical however many tokens share the call. The fast
// variant uses the high terms alone (about 15 bits per value: error at most
// 1.5e-5 of the block's largest value) for half the multiply work.
#include <cstdint>

#include "kernels/dtype.h"

namespace tandem {

/// Values per activation block.
constexpr int kActivationBlock = 32;
/// Most tokens one dot_quantized call handles.
constexpr int kMaxTokensPerDot = 4;

/// One token's quantized activations (see quantize_activations).
struct QuantizedActivations {
  const int16_t* q;    // [2n]: per block, 32 high terms then 32 low terms
  const float* scale;  // [n/32]
  const float* sum;    // [n/32] plain sum of each block's values
};

/// Whether `type` has an integer dot product on this build (AVX2); otherwise use the float path.
bool has_quantized_dot(DType type);

/// Quantizes n values (n a multiple of 32) into q[2n], scale[n/32] and sum[n/32].
void quantize_activations(const float* x, int64_t n, int16_t* q, float* scale, float* sum);

/// out[t] = dot(row, tokens[t]) for t < count (1..kMaxTokensPerDot); the row holds n values of `type`.
/// `precise`: both activation terms; otherwise the high terms only.
void dot_quantized(DType type, const void* row, const QuantizedActivations* tokens, int count, int64_t n, float* out,
                   bool precise = true);

}  // namespace tandem
