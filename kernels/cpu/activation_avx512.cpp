// SwiGLU on AVX-512: 16 lanes at a time.
#include "kernels/cpu/activation_kernels.h"
#include "kernels/cpu/activation_simd.h"
#include "kernels/cpu/vec_avx512.h"

namespace tandem::act {

void swiglu_avx512(float* gate, const float* up, int64_t n) { swiglu_simd<vec::Avx512>(gate, up, n); }

}  // namespace tandem::act
