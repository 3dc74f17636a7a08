// The kernels' e^x and tanh (kernels/exact_math.h), made of IEEE operations alone so a GPU
// and the SIMT emulator agree to the bit: how close they are to the true values.
#include "kernels/exact_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <vector>

namespace tandem {
namespace {

// Distance in units in the last place between two finite floats of one sign.
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs(int64_t(ia) - int64_t(ib));
}

TEST(ExactMath, ExpIsWithinTwoUlpsEverywhere) {
  int64_t worst = 0;
  float worst_at = 0;
  // Two million points spread over [-104, 89], and the small magnitudes near 0.
  std::vector<float> points;
  for (int i = 0; i <= 2000000; ++i) points.push_back(float(-104.0 + 193.0 * i / 2000000));
  for (int e = 1; e < 60; ++e) points.insert(points.end(), {std::ldexp(1.0f, -e), -std::ldexp(1.0f, -e)});
  for (const float x : points) {
    const float got = exact::exp(x), want = float(std::exp(double(x)));
    if (want < std::numeric_limits<float>::min()) {  // denormal results: one denormal step
      EXPECT_LE(std::fabs(double(got) - std::exp(double(x))), double(std::numeric_limits<float>::denorm_min())) << x;
      continue;
    }
    if (std::isinf(want)) {
      EXPECT_TRUE(std::isinf(got) || ulps(got, std::numeric_limits<float>::max()) <= 2) << x;
      continue;
    }
    if (const int64_t u = ulps(got, want); u > worst) {
      worst = u;
      worst_at = x;
    }
  }
  EXPECT_LE(worst, 2) << "at " << worst_at;
  std::cout << "[  worst   ] " << worst << " ulp at " << worst_at << std::endl;
}

TEST(ExactMath, ExpEdges) {
  EXPECT_EQ(exact::exp(0.0f), 1.0f);
  EXPECT_EQ(exact::exp(-0.0f), 1.0f);
  EXPECT_TRUE(std::isinf(exact::exp(89.0f)));
  EXPECT_TRUE(std::isinf(exact::exp(std::numeric_limits<float>::infinity())));
  EXPECT_EQ(exact::exp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exact::exp(-200.0f), 0.0f);
  EXPECT_TRUE(std::isnan(exact::exp(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_GT(exact::exp(-103.0f), 0.0f);  // a denormal, not flushed
}

TEST(ExactMath, TanhIsWithinTwoTenMillionthsAndSaturates) {
  double worst = 0;
  for (float y = -12.0f; y <= 12.0f; y += 0.000731f)
    worst = std::max(worst, std::fabs(double(exact::tanh(y)) - std::tanh(double(y))));
  EXPECT_LE(worst, 2e-7);
  EXPECT_EQ(exact::tanh(0.0f), 0.0f);
  EXPECT_EQ(exact::tanh(30.0f), 1.0f);
  EXPECT_EQ(exact::tanh(-30.0f), -1.0f);
}

}  // namespace
}  // namespace tandem
