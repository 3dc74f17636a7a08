#pragma once
// e^x and tanh made of fmaf, *, + and / alone, for the CUDA kernels. CUDA's expf and tanhf
// and glibc's differ by an ulp or two; IEEE operations do not, so these give the same bits
// on a GPU (kernels built with -fmad=false) and on the SIMT emulator. Within 2 ulp of e^x
// (tests/unit/exact_math_test.cpp).
#include <cmath>

#include "kernels/host_device.h"

namespace tandem::exact {

// exp's constants, shared with the CPU's vectorized copy (kernels/cpu/activation_simd.h).
constexpr float kLog2e = 1.4426950216293335f;
constexpr float kLn2High = 0.693145751953125f;  // ln2 in two parts: k * kLn2High is exact
constexpr float kLn2Low = 1.428606765330187e-06f;
constexpr float kInvFactorial7 = 0.00019841270113829523f;
constexpr float kInvFactorial6 = 0.0013888889225199819f;
constexpr float kInvFactorial5 = 0.008333333767950535f;
constexpr float kInvFactorial4 = 0.0416666679084301f;
constexpr float kInvFactorial3 = 0.1666666716337204f;

/// e^x: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so k ln2 loses nothing), e^r by
/// its Taylor series to r^7 (truncation below 6e-9 of the result), times 2^k.
TANDEM_HD float exp(float x) {
  if (x != x) return x;                          // NaN
  if (x > 88.72283935546875f) return HUGE_VALF;  // past the largest float
  if (x < -103.97208404541015625f) return 0.0f;  // below half the smallest denormal
  const float k = rintf(x * kLog2e);
  float r = fmaf(-k, kLn2High, x);
  r = fmaf(-k, kLn2Low, r);
  float p = kInvFactorial7;
  p = fmaf(p, r, kInvFactorial6);
  p = fmaf(p, r, kInvFactorial5);
  p = fmaf(p, r, kInvFactorial4);
  p = fmaf(p, r, kInvFactorial3);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  return ldexpf(p, int(k));
}

/// tanh(y) = (e^2y - 1) / (e^2y + 1); +-1 once that is what a float holds.
TANDEM_HD float tanh(float y) {
  if (y > 9.0f) return 1.0f;
  if (y < -9.0f) return -1.0f;
  const float e = exact::exp(2.0f * y);
  return (e - 1.0f) / (e + 1.0f);
}

}  // namespace tandem::exact
