// SwiGLU on AVX2: 8 lanes at a time.
#include "kernels/cpu/activation_kernels.h"
#include "kernels/cpu/activation_simd.h"
#include "kernels/cpu/vec_avx2.h"

namespace tandem::act {

void swiglu_avx2(float* gate, const float* up, int64_t n) { swiglu_simd<vec::Avx2>(gate, up, n); }

}  // namespace tandem::act
