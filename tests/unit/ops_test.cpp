// Kernel ops against straightforward double-precision references.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/kernel_isa.h"
#include "kernels/quantized_dot.h"
#include "test_helpers.h"

namespace tandem {
namespace {

std::vector<float> pattern(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = float(seed >> 8) / float(1 << 24) - 0.5f;
  }
  return v;
}

TEST(Ops, MatmulMatchesReferenceAndIsBatchIndependent) {
  const int64_t rows = 37, cols = 200, tokens = 5;
  auto w = pattern(size_t(rows * cols), 1), x = pattern(size_t(tokens * cols), 2);
  WeightMatrix m{DType::F32, w.data(), rows, cols, size_t(cols) * 4};
  ThreadPool pool(2);
  std::vector<float> y(size_t(tokens * rows)), y1(static_cast<size_t>(rows));
  matmul(m, x.data(), tokens, y.data(), pool);
  for (int64_t t = 0; t < tokens; ++t) {
    matmul(m, x.data() + t * cols, 1, y1.data(), pool);
    EXPECT_EQ(std::memcmp(y1.data(), y.data() + t * rows, size_t(rows) * 4), 0) << "token " << t;
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0;
      for (int64_t k = 0; k < cols; ++k) ref += double(w[size_t(r * cols + k)]) * x[size_t(t * cols + k)];
      EXPECT_NEAR(y[size_t(t * rows + r)], ref, 1e-4);
    }
  }
}

TEST(Ops, SegmentedAttentionEqualsPlainSoftmax) {
  const int hd = 16;
  const int64_t n = 45;
  auto q = pattern(hd, 3), keys = pattern(size_t(n * hd), 4), values = pattern(size_t(n * hd), 5);
  std::vector<int64_t> slots(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) slots[size_t(i)] = i;
  std::vector<double> scores(static_cast<size_t>(n)), want(hd, 0.0);
  double mx = -1e30, sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int d = 0; d < hd; ++d) s += double(q[size_t(d)]) * keys[size_t(i * hd + d)];
    scores[size_t(i)] = s * 0.25;
    mx = std::max(mx, scores[size_t(i)]);
  }
  for (int64_t i = 0; i < n; ++i) {
    double p = std::exp(scores[size_t(i)] - mx);
    sum += p;
    for (int d = 0; d < hd; ++d) want[size_t(d)] += p * values[size_t(i * hd + d)];
  }
  for (int segment : {1, 4, 7, 1024}) {
    std::vector<float> out(hd), scratch(attend_scratch_floats(1, hd, n, segment));
    attend(q.data(), 1, hd, 0.25f, {keys.data(), values.data(), hd}, slots.data(), 0, n, segment, out.data(),
           scratch.data());
    for (int d = 0; d < hd; ++d) EXPECT_NEAR(out[size_t(d)], want[size_t(d)] / sum, 1e-5) << "segment " << segment;
    // Three heads sharing the keys: the first one's result is bit-identical to it alone.
    std::vector<float> q3(q), out3(size_t(3 * hd));
    for (int d = 0; d < 2 * hd; ++d) q3.push_back(float(d % 7) * 0.1f - 0.3f);
    std::vector<float> scratch3(attend_scratch_floats(3, hd, n, segment));
    attend(q3.data(), 3, hd, 0.25f, {keys.data(), values.data(), hd}, slots.data(), 0, n, segment, out3.data(),
           scratch3.data());
    EXPECT_EQ(std::memcmp(out3.data(), out.data(), size_t(hd) * 4), 0) << "segment " << segment;
  }
}

TEST(Ops, RopeRotatesPairs) {
  std::vector<float> v = {1, 0, 0, 1};
  float c[2] = {0.0f, 1.0f}, s[2] = {1.0f, 0.0f};
  rope(v.data(), 1, 4, c, s, RopeStyle::Interleaved);  // pair (0,1) by 90°, pair (2,3) by 0°
  EXPECT_EQ(v, (std::vector<float>{0, 1, 0, 1}));
  std::vector<float> h = {1, 0, 0, 1};
  rope(h.data(), 1, 4, c, s, RopeStyle::Halves);  // pairs (0,2) by 90°, (1,3) by 0°
  EXPECT_EQ(h, (std::vector<float>{0, 0, 1, 1}));
}

// SwiGLU's silu on every instruction set equals silu_reference bit for bit (lengths that end
// mid-vector, the clamp's edges, infinities, denormals, signed zeros), and silu_reference is
// within 4 ulp of silu computed in double (below g = -88, where silu is under 1e-36, within 1e-36).
TEST(Ops, SwigluIsTheSameOnEveryInstructionSetAndCloseToExact) {
  test::IsaGuard guard;
  std::vector<float> gate = pattern(1000, 5), up = pattern(1000, 6);
  for (size_t i = 0; i < gate.size(); ++i) gate[i] *= 60.0f;
  const float edges[] = {0.0f,   -0.0f, 1e-40f, -1e-40f, 20.0f,   -20.0f,   19.99f,    -20.01f,     88.0f,
                         -88.0f, 87.9f, -88.1f, 200.0f,  -200.0f, INFINITY, -INFINITY, 0.34657359f, -0.34657359f};
  for (size_t i = 0; i < std::size(edges); ++i) gate[i] = edges[i];
  std::vector<float> expected(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) expected[i] = silu_reference(gate[i]) * up[i];
  for (KernelIsa isa : test::supported_isas()) {
    set_kernel_isa(isa);
    for (size_t n : {size_t(1), size_t(7), size_t(17), gate.size()}) {
      std::vector<float> got(gate.begin(), gate.begin() + long(n));
      swiglu(got.data(), up.data(), int64_t(n));
      EXPECT_EQ(std::memcmp(got.data(), expected.data(), n * 4), 0) << kernel_isa_name(isa) << " n " << n;
    }
  }
  for (int i = -200000; i <= 200000; ++i) {
    const float g = float(i) / 2000.0f;
    const double exact = double(g) / (1.0 + std::exp(-double(g)));
    const float got = silu_reference(g);
    EXPECT_LE(std::fabs(got - exact), 4 * std::fabs(std::nextafter(float(exact), INFINITY) - float(exact)) + 1e-36)
        << "silu(" << g << ") = " << got << ", exactly " << exact;
  }
}

// Attention's softmax weight e^x (x <= 0): within 2 ulp of e^x in double down to the floor
// where e^x would turn denormal, and 0 below it (a weight under 2e-38 of the largest one).
TEST(Ops, AttentionExpIsCloseToExpAndZeroBelowItsFloor) {
  for (int i = 0; i <= 870000; ++i) {
    const float x = -float(i) / 10000.0f;
    const float got = attention_exp(x), exact = float(std::exp(double(x)));
    EXPECT_LE(std::fabs(got - exact), 2 * std::fabs(std::nextafter(exact, INFINITY) - exact)) << "e^" << x;
  }
  EXPECT_EQ(attention_exp(0.0f), 1.0f);
  EXPECT_EQ(attention_exp(-87.01f), 0.0f);
  EXPECT_EQ(attention_exp(-INFINITY), 0.0f);
}

TEST(Ops, ArgmaxTiesGoToFirst) {
  std::vector<float> v = {1, 3, 2, 3};
  EXPECT_EQ(argmax(v.data(), 4), 1);
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

// Random blocks of `type` with sane fp16 scales, n values.
std::string random_row(DType type, int64_t n, uint32_t seed) {
  DTypeInfo info = dtype_info(type);
  std::string bytes(row_bytes(type, n), '\0');
  for (auto& c : bytes) {
    seed = seed * 1664525u + 1013904223u;
    c = char(seed >> 24);
  }
  // Where each block keeps its fp16 scale (and min): overwrite with small finite values.
  for (size_t block = 0; block < bytes.size() / size_t(info.block_bytes); ++block)
    for (size_t at : test::fp16_field_offsets(type)) {
      uint16_t h = uint16_t(0x2000 + (block * 97 + at * 13) % 0x1000);  // about 0.008 to 0.06
      std::memcpy(&bytes[block * size_t(info.block_bytes) + at], &h, 2);
    }
  return bytes;
}

TEST(QuantizedDot, MatchesDequantizedDoubleDot) {
  const int64_t n = 512;
  auto x = pattern(size_t(n), 9);
  for (auto& v : x) v *= 4.0f;
  std::vector<int16_t> q(static_cast<size_t>(2 * n));
  std::vector<float> scale(size_t(n / 32));
  std::vector<float> sum(size_t(n / 32));
  quantize_activations(x.data(), n, q.data(), scale.data(), sum.data());
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K}) {
    if (!has_quantized_dot(type)) GTEST_SKIP() << "no AVX2 in this build";
    std::string row = random_row(type, n, uint32_t(type) * 31 + 1);
    std::vector<float> w(static_cast<size_t>(n));
    dequantize_row(type, row.data(), w.data(), n);
    double want = 0, magnitude = 0;
    for (int64_t i = 0; i < n; ++i) {
      want += double(w[size_t(i)]) * x[size_t(i)];
      magnitude += std::fabs(double(w[size_t(i)]) * x[size_t(i)]);
    }
    QuantizedActivations token{q.data(), scale.data(), sum.data()};
    float got;
    dot_quantized(type, row.data(), &token, 1, n, &got);
    EXPECT_NEAR(got, want, 1e-4 * magnitude) << dtype_info(type).name;
    // Several tokens in one call: each result bit-identical to its lone call.
    QuantizedActivations four[4] = {token, token, token, token};
    float outs[4];
    dot_quantized(type, row.data(), four, 4, n, outs);
    for (float v : outs) EXPECT_EQ(std::memcmp(&v, &got, 4), 0) << dtype_info(type).name;
  }
}

}  // namespace
}  // namespace tandem
