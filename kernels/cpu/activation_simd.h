#pragma once
// The gated activation SwiGLU, gate[i] = silu(gate[i]) * up[i], written once over a
// vector-traits class V (vec_avx512.h, vec_avx2.h) and compiled per instruction set.
// silu(g) = g / (1 + e^-g) with kernels/exact_math.h's e^x, whose steps are all exactly
// rounded IEEE operations, so every lane equals silu_reference (kernels/ops.h) bit for bit
// and the instruction set never changes a logit.
#include <cstdint>

#include "kernels/exact_math.h"
#include "kernels/ops.h"

namespace tandem::act {
namespace {

// exact::exp lane by lane, its steps and constants, for x in [-87, 88] (where 2^k is a
// normal float, built from its bits).
template <class V>
typename V::F exp_lanes(typename V::F x) {
  using F = typename V::F;
  const F k = V::round_even(V::mul(x, V::set1_ps(exact::kLog2e)));
  F r = V::fmadd(V::neg(k), V::set1_ps(exact::kLn2High), x);
  r = V::fmadd(V::neg(k), V::set1_ps(exact::kLn2Low), r);
  F p = V::set1_ps(exact::kInvFactorial7);
  for (float c :
       {exact::kInvFactorial6, exact::kInvFactorial5, exact::kInvFactorial4, exact::kInvFactorial3, 0.5f, 1.0f, 1.0f})
    p = V::fmadd(p, r, V::set1_ps(c));
  return V::mul(p, V::pow2(k));  // one rounding, as ldexpf's
}

template <class V>
void swiglu_simd(float* gate, const float* up, int64_t n) {
  using F = typename V::F;
  const F lo = V::set1_ps(kSiluExpLow), hi = V::set1_ps(kSiluExpHigh), one = V::set1_ps(1.0f);
  int64_t i = 0;
  for (; i + V::kLanes <= n; i += V::kLanes) {
    const F g = V::loadf(gate + i);
    const F e = exp_lanes<V>(V::min(V::max(V::neg(g), lo), hi));
    V::store(gate + i, V::mul(V::div(g, V::add(one, e)), V::loadf(up + i)));
  }
  for (; i < n; ++i) gate[i] = silu_reference(gate[i]) * up[i];
}

}  // namespace
}  // namespace tandem::act
