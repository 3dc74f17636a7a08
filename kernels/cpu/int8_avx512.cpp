// The int8 kernels on AVX-512 VNNI: 16 rows per vector, vpdpbusd adds four
// unsigned-by-signed byte products to each int32 lane exactly. Compiled with
// AVX-512 flags (CMakeLists.txt) and called only when the processor has them.
#include "kernels/cpu/float_simd.h"
#include "kernels/cpu/int8_kernels.h"
#include "kernels/cpu/int8_quantize_simd.h"
#include "kernels/cpu/int8_simd.h"
#include "kernels/cpu/vec_avx512.h"

namespace tandem::int8 {

GroupKernelFn avx512_kernel(DType type, int tokens) {
  return kernel_for_tokens<vec::Avx512, kAvx512MaxTokens>(type, tokens);
}

FloatGroupKernelFn avx512_float_kernel(DType type, int tokens) {
  return float_kernel_for_tokens<vec::Avx512, kAvx512MaxFloatTokens>(type, tokens);
}

void avx512_quantize(const float* x, int64_t n, Int8Block* out) { quantize_blocks<vec::Avx512>(x, n, out); }

int64_t avx512_dot_loop(int64_t iterations, uint8_t weight, int8_t activation) {
  return dot_throughput_loop<vec::Avx512>(iterations, weight, activation);
}

}  // namespace tandem::int8
