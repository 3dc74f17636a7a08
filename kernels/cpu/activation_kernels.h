#pragma once
// The gated activation kernels of each instruction set (see activation_simd.h).
#include <cstdint>

namespace tandem::act {

void swiglu_avx512(float* gate, const float* up, int64_t n);
void swiglu_avx2(float* gate, const float* up, int64_t n);

}  // namespace tandem::act
