#pragma once
// Activation quantization (quantize_int8's arithmetic) written once over a
// vector-traits class V, compiled per instruction set like int8_simd.h. Every
// step is an exactly rounded IEEE operation done lane by lane, and the largest
// |x| does not depend on the order it is found in, so each block comes out
// bit-identical to the scalar reference.
#include <cstdint>

#include "kernels/cpu/int8_layout.h"
#include "kernels/int8_matmul.h"

namespace tandem::int8 {
namespace {

template <class V>
void quantize_blocks(const float* x, int64_t n, Int8Block* out) {
  constexpr int kVectors = kBlock / V::kLanes;
  for (int64_t b = 0; b < n / kBlock; ++b) {
    const float* xb = x + b * kBlock;
    typename V::F v[kVectors];
    typename V::F amax = V::zero_ps();
    for (int i = 0; i < kVectors; ++i) {
      v[i] = V::loadf(xb + i * V::kLanes);
      amax = V::max(V::abs(v[i]), amax);  // a NaN lane leaves amax as it is, as the reference's fmax does
    }
    Int8Block& o = out[b];
    o.d = V::max_lanes(amax) / 127.0f;
    const float inv = o.d > 0.0f ? 1.0f / o.d : 0.0f;
    int sums[2] = {0, 0};
    for (int i = 0; i < kVectors; ++i) {
      const auto q = V::round_clamp127(V::mul(v[i], V::set1_ps(inv)));
      V::store_i8(o.q + i * V::kLanes, q);
      sums[i * V::kLanes / 16] += V::sum_i32(q);
    }
    o.sum[0] = int16_t(sums[0]);
    o.sum[1] = int16_t(sums[1]);
    o.dsum = o.d * float(sums[0] + sums[1]);
  }
}

}  // namespace
}  // namespace tandem::int8
