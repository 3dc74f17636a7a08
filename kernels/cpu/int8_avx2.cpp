// The int8 kernels on AVX2: 8 rows per vector (two passes per group of 16).
// vpmaddubsw multiplies unsigned weights by signed activations into int16 pairs,
// which saturate only above 32767: weights of at most 7 bits (|x| <= 127) never
// reach it, and 8-bit weights are split into two nibbles first.
#include "kernels/cpu/float_simd.h"
#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_quantize_simd.h"
#include "kernels/cpu/int8_simd.h"
#include "kernels/cpu/vec_avx2.h"

namespace tandem::int8 {

GroupKernelFn avx2_kernel(DType type, int tokens) { return kernel_for_tokens<vec::Avx2, kAvx2MaxTokens>(type, tokens); }

FloatGroupKernelFn avx2_float_kernel(DType type, int tokens) {
  return float_kernel_for_tokens<vec::Avx2, kAvx2MaxFloatTokens>(type, tokens);
}

void avx2_quantize(const float* x, int64_t n, Int8Block* out) { quantize_blocks<vec::Avx2>(x, n, out); }

int64_t avx2_dot_loop(int64_t iterations, uint8_t weight, int8_t activation) {
  return dot_throughput_loop<vec::Avx2>(iterations, weight, activation);
}

}  // namespace tandem::int8
