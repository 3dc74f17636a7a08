// The int8 matmul: every instruction set's kernel against the scalar reference,
// bit for bit, on random blocks of every type (edge blocks included), every
// batch size from 1 to 17 and row counts that are not multiples of the group;
// the reference against float dequantization within its stated bound.
#include "kernels/int8_matmul.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/int8_kernels.h"
#include "kernels/dequantize.h"
#include "kernels/int8_peak.h"
#include "model/transformer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

const DType kTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K};
const DType kFloatTypes[] = {DType::F32, DType::F16, DType::BF16};

enum class Edge { Random, Zero, LargestScales };

// A rows × cols float matrix of `type`: normal values, zeros, or values near the type's largest.
std::vector<uint8_t> random_float_matrix(DType type, int64_t rows, int64_t cols, Edge edge, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 0.05f);
  const size_t n = size_t(rows * cols), element = type == DType::F32 ? 4 : 2;
  std::vector<uint8_t> bytes(n * element);
  for (size_t i = 0; i < n; ++i) {
    float v = edge == Edge::Zero ? 0.0f : normal(rng);
    if (edge == Edge::LargestScales) v = (rng() & 1 ? 1.0f : -1.0f) * (type == DType::F16 ? 65504.0f : 1e30f);
    if (type == DType::F32) {
      std::memcpy(&bytes[4 * i], &v, 4);
    } else if (type == DType::F16) {
      const uint16_t h = _cvtss_sh(v, 0);
      std::memcpy(&bytes[2 * i], &h, 2);
    } else {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      const uint16_t h = uint16_t(bits >> 16);  // truncation: any bfloat16 value will do
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  return bytes;
}

// A rows × cols matrix of random blocks whose fp16 scales are finite.
std::vector<uint8_t> random_matrix(DType type, int64_t rows, int64_t cols, Edge edge, std::mt19937& rng) {
  const DTypeInfo info = dtype_info(type);
  const size_t blocks = size_t(rows * cols / info.block_elems);
  std::vector<uint8_t> bytes(blocks * size_t(info.block_bytes));
  for (auto& b : bytes) b = edge == Edge::Zero ? 0 : uint8_t(rng());
  std::uniform_int_distribution<int> exponent(5, 14);
  for (size_t b = 0; b < blocks; ++b)
    for (size_t offset : test::fp16_field_offsets(type)) {
      // Largest finite fp16 (65504) or a random sign, exponent 2^-10..2^-1 and mantissa.
      uint16_t h =
          edge == Edge::LargestScales ? 0x7bff : uint16_t((rng() & 0x8000) | exponent(rng) << 10 | (rng() & 0x3ff));
      if (edge == Edge::Zero) h = 0;
      std::memcpy(&bytes[b * size_t(info.block_bytes) + offset], &h, 2);
    }
  return bytes;
}

std::vector<float> random_activations(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  for (int64_t i = 0; i < n; i += 97) x[size_t(i)] *= 40.0f;  // outliers, as real activations have
  return x;
}

// Each of `tokens` rows of `cols` values of x quantized to int8 blocks, a row after the other.
std::vector<Int8Block> quantize_tokens(const std::vector<float>& x, int64_t tokens, int64_t cols) {
  std::vector<Int8Block> xq(size_t(tokens * cols / 32));
  for (int64_t t = 0; t < tokens; ++t) quantize_int8(x.data() + t * cols, cols, xq.data() + t * cols / 32);
  return xq;
}

using test::IsaGuard;
using test::supported_isas;

TEST(Int8Matmul, EveryKernelEqualsTheReferenceBitForBit) {
  IsaGuard guard;
  ThreadPool pool(2);
  std::mt19937 rng(7);
  for (DType type : kTypes)
    for (Edge edge : {Edge::Random, Edge::Zero, Edge::LargestScales})
      for (int64_t rows : {1, 15, 16, 17, 45}) {
        const int64_t cols = 512, max_tokens = 17;
        auto w = random_matrix(type, rows, cols, edge, rng);
        WeightMatrix m{type, w.data(), rows, cols, row_bytes(type, cols)};
        auto x = random_activations(max_tokens * cols, rng);
        const std::vector<Int8Block> xq = quantize_tokens(x, max_tokens, cols);
        std::vector<float> expected(size_t(max_tokens * rows));
        for (int64_t t = 0; t < max_tokens; ++t)
          for (int64_t r = 0; r < rows; ++r)
            expected[size_t(t * rows + r)] = dot_int8_reference(type, m.row(r), xq.data() + t * cols / 32, cols);
        PackedMatrix packed = pack_matrix(m, pool);
        for (KernelIsa isa : supported_isas()) {
          set_kernel_isa(isa);
          for (int64_t n = 1; n <= max_tokens; ++n) {
            std::vector<float> y(size_t(n * rows), NAN);
            matmul_int8(packed, x.data(), n, y.data(), pool);
            ASSERT_EQ(std::memcmp(y.data(), expected.data(), y.size() * 4), 0)
                << dtype_info(type).name << " " << kernel_isa_name(isa) << " rows " << rows << " tokens " << n
                << " edge " << int(edge) << ": first value " << y[0] << " vs " << expected[0];
          }
        }
      }
}

TEST(Int8Matmul, FloatKernelsEqualTheReferenceBitForBit) {
  IsaGuard guard;
  ThreadPool pool(2);
  std::mt19937 rng(5);
  for (DType type : kFloatTypes)
    for (Edge edge : {Edge::Random, Edge::Zero, Edge::LargestScales})
      for (int64_t rows : {1, 15, 16, 17, 45})
        for (int64_t cols : {4, 68, 256}) {
          const int64_t max_tokens = 17;
          auto w = random_float_matrix(type, rows, cols, edge, rng);
          WeightMatrix m{type, w.data(), rows, cols, row_bytes(type, cols)};
          ASSERT_TRUE(can_pack(m));
          auto x = random_activations(max_tokens * cols, rng);
          std::vector<float> expected(size_t(max_tokens * rows));
          for (int64_t t = 0; t < max_tokens; ++t)
            for (int64_t r = 0; r < rows; ++r)
              expected[size_t(t * rows + r)] = dot_float_reference(type, m.row(r), x.data() + t * cols, cols);
          PackedMatrix packed = pack_matrix(m, pool);
          for (KernelIsa isa : supported_isas()) {
            set_kernel_isa(isa);
            for (int64_t n = 1; n <= max_tokens; ++n) {
              std::vector<float> y(size_t(n * rows), NAN);
              matmul_int8(packed, x.data(), n, y.data(), pool);
              ASSERT_EQ(std::memcmp(y.data(), expected.data(), y.size() * 4), 0)
                  << dtype_info(type).name << " " << kernel_isa_name(isa) << " rows " << rows << " cols " << cols
                  << " tokens " << n << " edge " << int(edge) << ": first value " << y[0] << " vs " << expected[0];
            }
          }
        }
}

// The float reference against a double-precision dot product: float rounding of n
// products and sums stays below n * 2^-23 of the sum of magnitudes.
TEST(Int8Matmul, FloatReferenceStaysWithinFloatRounding) {
  std::mt19937 rng(9);
  const int64_t cols = 1024;
  for (DType type : kFloatTypes) {
    auto w = random_float_matrix(type, 4, cols, Edge::Random, rng);
    WeightMatrix m{type, w.data(), 4, cols, row_bytes(type, cols)};
    auto x = random_activations(cols, rng);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < 4; ++r) {
      dequantize_row(type, m.row(r), row.data(), cols);
      double exact = 0, magnitude = 0;
      for (int64_t i = 0; i < cols; ++i) {
        exact += double(row[size_t(i)]) * x[size_t(i)];
        magnitude += std::fabs(double(row[size_t(i)]) * x[size_t(i)]);
      }
      EXPECT_LE(std::fabs(dot_float_reference(type, m.row(r), x.data(), cols) - exact),
                double(cols) * 0x1p-23 * magnitude)
          << dtype_info(type).name;
    }
  }
}

TEST(Int8Matmul, ATokensResultIsTheSameAloneAndInAnyTilePosition) {
  IsaGuard guard;
  ThreadPool pool(2);
  std::mt19937 rng(11);
  const int64_t rows = 40, cols = 256, n = 13;
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0, DType::Q4_K, DType::Q6_K, DType::F32,
                     DType::F16, DType::BF16}) {
    auto w = has_float_kernel(type) ? random_float_matrix(type, rows, cols, Edge::Random, rng)
                                    : random_matrix(type, rows, cols, Edge::Random, rng);
    WeightMatrix m{type, w.data(), rows, cols, row_bytes(type, cols)};
    PackedMatrix packed = pack_matrix(m, pool);
    auto x = random_activations(n * cols, rng);
    for (KernelIsa isa : supported_isas()) {
      set_kernel_isa(isa);
      std::vector<float> all(static_cast<size_t>(n * rows)), one(static_cast<size_t>(rows));
      matmul_int8(packed, x.data(), n, all.data(), pool);
      for (int64_t t = 0; t < n; ++t) {
        matmul_int8(packed, x.data() + t * cols, 1, one.data(), pool);
        EXPECT_EQ(std::memcmp(one.data(), all.data() + t * rows, size_t(rows) * 4), 0)
            << dtype_info(type).name << " " << kernel_isa_name(isa) << " token " << t;
      }
    }
  }
}

// The reference differs from the float dot product only by activation rounding:
// each activation moves by at most half its block's step d, so the error is at
// most sum |w_i| * d / 2 (plus float rounding, far smaller).
TEST(Int8Matmul, ReferenceStaysWithinTheActivationRoundingBound) {
  std::mt19937 rng(3);
  const int64_t cols = 1024;
  for (DType type : kTypes) {
    auto w = random_matrix(type, 8, cols, Edge::Random, rng);
    WeightMatrix m{type, w.data(), 8, cols, row_bytes(type, cols)};
    auto x = random_activations(cols, rng);
    std::vector<Int8Block> xq(size_t(cols / 32));
    quantize_int8(x.data(), cols, xq.data());
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < 8; ++r) {
      dequantize_row(type, m.row(r), row.data(), cols);
      double exact = 0, bound = 0, magnitude = 0;
      for (int64_t i = 0; i < cols; ++i) {
        exact += double(row[size_t(i)]) * x[size_t(i)];
        bound += std::fabs(double(row[size_t(i)])) * xq[size_t(i / 32)].d / 2;
        magnitude += std::fabs(double(row[size_t(i)]) * x[size_t(i)]);
      }
      const double got = dot_int8_reference(type, m.row(r), xq.data(), cols);
      EXPECT_LE(std::fabs(got - exact), bound + 1e-5 * magnitude) << dtype_info(type).name << " row " << r;
      EXPECT_GT(bound, 0.0);
    }
  }
}

TEST(Int8Matmul, QuantizesEdgeBlocks) {
  std::vector<float> x(64, 0.0f);
  for (int i = 32; i < 64; ++i) x[size_t(i)] = i % 2 ? 3e38f : -3e38f;
  Int8Block q[2];
  quantize_int8(x.data(), 64, q);
  EXPECT_EQ(q[0].d, 0.0f);
  EXPECT_EQ(q[0].sum[0] + q[0].sum[1], 0);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(q[0].q[i], 0);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(q[1].q[i], i % 2 ? 127 : -127);
  EXPECT_FLOAT_EQ(q[1].d, 3e38f / 127.0f);
}

// A shared matmul (one quantization, every matrix's groups in one threaded pass)
// gives each matrix exactly what it gets alone: mixed int8 and float types, row
// counts that end mid-group, so the threads' slices cross from one matrix to the next.
TEST(Int8Matmul, SharedMatmulEqualsOneMatrixAtATime) {
  IsaGuard guard;
  ThreadPool pool(2);
  std::mt19937 rng(13);
  const int64_t cols = 512, n_tokens = 11;
  const std::pair<DType, int64_t> shapes[] = {{DType::Q4_K, 45}, {DType::Q6_K, 16}, {DType::F16, 7}, {DType::Q8_0, 33}};
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<PackedMatrix> packed;
  for (auto [type, rows] : shapes) {
    bytes.push_back(has_float_kernel(type) ? random_float_matrix(type, rows, cols, Edge::Random, rng)
                                           : random_matrix(type, rows, cols, Edge::Random, rng));
    packed.push_back(pack_matrix({type, bytes.back().data(), rows, cols, row_bytes(type, cols)}, pool));
  }
  auto x = random_activations(n_tokens * cols, rng);
  ThreadPool one_thread(1);  // one slice of every group: it crosses each matrix boundary
  for (KernelIsa isa : supported_isas()) {
    set_kernel_isa(isa);
    for (ThreadPool* threads : {&pool, &one_thread}) {
      std::vector<std::vector<float>> alone, shared;
      std::vector<MatmulOutput> outputs;
      for (const PackedMatrix& p : packed) {
        alone.emplace_back(size_t(n_tokens * p.source.rows), NAN);
        shared.emplace_back(size_t(n_tokens * p.source.rows), NAN);
        matmul_int8(p, x.data(), n_tokens, alone.back().data(), pool);
      }
      for (size_t i = 0; i < packed.size(); ++i) outputs.push_back({&packed[i], shared[i].data()});
      matmul_int8_shared(outputs, x.data(), n_tokens, *threads);
      for (size_t i = 0; i < packed.size(); ++i)
        EXPECT_EQ(std::memcmp(alone[i].data(), shared[i].data(), alone[i].size() * 4), 0)
            << dtype_info(packed[i].source.type).name << " " << kernel_isa_name(isa) << " threads " << threads->size();
    }
  }
  std::vector<uint8_t> narrow = random_matrix(DType::Q8_0, 16, 256, Edge::Random, rng);
  PackedMatrix other = pack_matrix({DType::Q8_0, narrow.data(), 16, 256, row_bytes(DType::Q8_0, 256)}, pool);
  std::vector<float> y(size_t(16 * n_tokens) * 4);
  const MatmulOutput mixed[] = {{&packed[0], y.data()}, {&other, y.data()}};
  EXPECT_THROW(matmul_int8_shared(mixed, x.data(), n_tokens, pool), std::invalid_argument);
}

// The vector quantizers against quantize_int8, byte for byte: random blocks with
// outliers, an all-zero block, the largest floats, and values that land exactly
// on a half step (ties round to even) or just past 127 after scaling.
TEST(Int8Matmul, VectorQuantizersEqualTheReferenceBitForBit) {
  std::mt19937 rng(11);
  auto x = random_activations(32 * 64, rng);
  for (int i = 0; i < 32; ++i) x[size_t(i)] = 0.0f;
  for (int i = 32; i < 64; ++i) x[size_t(i)] = i % 3 ? 3e38f : -3e38f;
  for (int i = 64; i < 96; ++i) x[size_t(i)] = 0.5f * float(i - 80);  // amax 7.5: steps of 127 / 15
  x[96] = 127.0f;
  for (int i = 97; i < 128; ++i) x[size_t(i)] = float(i - 96) + 0.5f;  // halves at d = 1
  std::vector<Int8Block> expected(64), got(64);
  quantize_int8(x.data(), int64_t(x.size()), expected.data());
  for (KernelIsa isa : supported_isas()) {
    if (isa == KernelIsa::Scalar) continue;  // the reference itself
    const char* name = kernel_isa_name(isa);
    std::fill(got.begin(), got.end(), Int8Block{});
    int8::quantizer_for(isa)(x.data(), int64_t(x.size()), got.data());
    for (size_t b = 0; b < got.size(); ++b) {
      ASSERT_EQ(std::memcmp(&got[b].d, &expected[b].d, 4), 0) << name << " block " << b;
      ASSERT_EQ(got[b].sum[0], expected[b].sum[0]) << name << " block " << b;
      ASSERT_EQ(got[b].sum[1], expected[b].sum[1]) << name << " block " << b;
      ASSERT_EQ(std::memcmp(&got[b].dsum, &expected[b].dsum, 4), 0) << name << " block " << b;
      ASSERT_EQ(std::memcmp(got[b].q, expected[b].q, 32), 0) << name << " block " << b;
    }
  }
  EXPECT_EQ(expected[3].q[1], 2);  // 1.5 rounds to even
  EXPECT_EQ(expected[3].q[2], 2);  // 2.5 too
}

TEST(Int8Matmul, RefusesAnInstructionSetTheProcessorLacksAndTypesWithoutKernel) {
  EXPECT_FALSE(has_int8_kernel(DType::F32));
  EXPECT_TRUE(has_float_kernel(DType::F32));
  EXPECT_FALSE(has_int8_kernel(DType::Q5_K));
  EXPECT_FALSE(has_float_kernel(DType::Q5_K));
  EXPECT_TRUE(has_int8_kernel(DType::Q6_K));
  ThreadPool pool(1);
  std::vector<float> w(64);
  WeightMatrix odd{DType::F32, w.data(), 2, 30, 120};  // float kernels take 4 columns at a time
  EXPECT_FALSE(can_pack(odd));
  EXPECT_THROW(pack_matrix(odd, pool), std::invalid_argument);
  std::vector<uint8_t> q5k(size_t(row_bytes(DType::Q5_K, 256)));
  WeightMatrix no_kernel{DType::Q5_K, q5k.data(), 1, 256, q5k.size()};
  EXPECT_THROW(pack_matrix(no_kernel, pool), std::invalid_argument);
  if (best_kernel_isa() != KernelIsa::Avx512Vnni) {
    EXPECT_THROW(set_kernel_isa(KernelIsa::Avx512Vnni), std::invalid_argument);
  }
}

// The peak measurement times the real instruction: its loop computes the exact sum of
// its products (so nothing was dropped), and the peak it reports is a positive rate.
TEST(Int8Matmul, ThePeakLoopDoesEveryProductItCounts) {
  // 100 iterations × kDotLoopChains accumulators × lanes × 4 products of 3 × -2 each.
  const int64_t per_lane = 100 * int64_t(int8::kDotLoopChains) * 4 * (3 * -2);
  if (best_kernel_isa() == KernelIsa::Avx512Vnni) {
    EXPECT_EQ(int8::avx512_dot_loop(100, 3, -2), per_lane * 16);
    // With a companion op the dots are the same: the loaded activations too.
    for (auto with :
         {int8::DotCompanion::TwoLoads, int8::DotCompanion::FloatMultiplyAdd, int8::DotCompanion::TwoLogicOps})
      EXPECT_EQ(int8::avx512_dot_loop_with(with, 100, 3, -2), per_lane * 16);
  }
  if (best_kernel_isa() != KernelIsa::Scalar) { EXPECT_EQ(int8::avx2_dot_loop(100, 3, -2), per_lane * 8); }
  ThreadPool pool(2);
  const Int8Peak peak = measure_int8_peak(pool);
  EXPECT_EQ(peak.threads, 2);
  EXPECT_EQ(peak.isa, kernel_isa());
  if (peak.isa != KernelIsa::Scalar) { EXPECT_GT(peak.multiply_adds_per_second, 1e9); }
  if (peak.isa == KernelIsa::Avx512Vnni) {
    EXPECT_GT(peak.with_two_loads_multiply_adds_per_second, 1e9);
    EXPECT_GT(peak.with_float_fma_multiply_adds_per_second, 1e9);
    EXPECT_GT(peak.with_two_logic_ops_multiply_adds_per_second, 1e9);
  }
  if (peak.isa == KernelIsa::Avx512Vnni && amx_available()) {
    EXPECT_EQ(int8::amx_dot_loop(100, 3, -2), 100 * int8::kAmxLoopProducts * (3 * -2));
    EXPECT_GT(peak.amx_multiply_adds_per_second, peak.multiply_adds_per_second);
  }
}

// Turns AMX on for a test where the processor has it, and restores the setting.
struct AmxOn {
  const bool was = amx_in_use();
  AmxOn() {
    if (amx_available()) set_amx(true);
  }
  ~AmxOn() {
    if (amx_available()) set_amx(was);
  }
};

// The AMX kernels (batches of 16 tokens or more) against the reference, bit for bit, for
// every type, every batch size from 16 to 40 (whole tiles and a last partial one), every
// edge kind and row counts that are not multiples of the group; and a whole forward of 24
// tokens gives the same logits with AMX as without.
TEST(Int8Matmul, TheAmxKernelsEqualTheReferenceBitForBit) {
  if (!amx_available()) GTEST_SKIP() << "this processor (or its kernel) offers no AMX tiles";
  IsaGuard guard;
  AmxOn amx;
  set_kernel_isa(KernelIsa::Avx512Vnni);
  ThreadPool pool(2);
  std::mt19937 rng(17);
  for (DType type : kTypes)
    for (Edge edge : {Edge::Random, Edge::Zero, Edge::LargestScales})
      for (int64_t rows : {16, 45}) {
        const int64_t cols = 768, max_tokens = 40;
        auto w = random_matrix(type, rows, cols, edge, rng);
        WeightMatrix m{type, w.data(), rows, cols, row_bytes(type, cols)};
        auto x = random_activations(max_tokens * cols, rng);
        const std::vector<Int8Block> xq = quantize_tokens(x, max_tokens, cols);
        PackedMatrix packed = pack_matrix(m, pool);
        for (int64_t n = 16; n <= max_tokens; ++n) {
          std::vector<float> y(size_t(n * rows), NAN);
          matmul_int8(packed, x.data(), n, y.data(), pool);
          for (int64_t t = 0; t < n; ++t)
            for (int64_t r = 0; r < rows; ++r) {
              const float expected = dot_int8_reference(type, m.row(r), xq.data() + t * cols / 32, cols);
              ASSERT_EQ(std::memcmp(&y[size_t(t * rows + r)], &expected, 4), 0)
                  << dtype_info(type).name << " rows " << rows << " tokens " << n << " token " << t << " row " << r
                  << " edge " << int(edge);
            }
        }
      }

  auto model = Model::load(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"));
  Transformer tf(*model, 2, kAttentionSegment, MatmulPath::Int8);
  std::vector<BatchToken> batch;
  for (int i = 0; i < 24; ++i) batch.push_back({100 + 37 * i, 0, i, i - 1, true});
  std::vector<std::vector<float>> logits;
  for (bool on : {true, false}) {
    set_amx(on);
    KvCache cache(model->config(), 32);
    KvCache* caches[] = {&cache};
    auto out = tf.forward(batch, caches);
    logits.emplace_back(out.begin(), out.end());
  }
  EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * 4), 0);
}

// A whole forward on every instruction set gives the very same logits, so processors with
// and without AVX-512 produce identical output (and the scalar reference agrees), for
// quantized and float weights.
TEST(Int8Matmul, ForwardLogitsAreIdenticalOnEveryInstructionSet) {
  IsaGuard guard;
  for (const char* name :
       {"qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "smollm2-135m-instruct-q4_1.gguf", "stories260K"}) {
    const bool stories = std::string(name) == "stories260K";  // float weights: the float kernels
    auto model = Model::load(stories ? test::stories_model() : test::installed_model(name));
    Transformer tf(*model, 2, kAttentionSegment, MatmulPath::Int8);
    std::vector<BatchToken> batch;
    for (int i = 0; i < 5; ++i) batch.push_back({100 + 37 * i, 0, i, i - 1, true});
    std::vector<std::vector<float>> logits;
    const std::vector<KernelIsa> isas = supported_isas();
    for (KernelIsa isa : isas) {
      // The scalar kernels are slow on Qwen: compare them only where there is nothing else
      // to compare with (a processor with AVX2 but not AVX-512).
      if (isa == KernelIsa::Scalar && std::string(name).find("qwen") != std::string::npos && isas.size() > 2) continue;
      set_kernel_isa(isa);
      KvCache cache(model->config(), 16);
      KvCache* caches[] = {&cache};
      auto out = tf.forward(batch, caches);
      logits.emplace_back(out.begin(), out.end());
    }
    ASSERT_GE(logits.size(), 2u);
    for (size_t i = 1; i < logits.size(); ++i)
      EXPECT_EQ(std::memcmp(logits[0].data(), logits[i].data(), logits[0].size() * 4), 0) << name << " " << i;
  }
}

}  // namespace
}  // namespace tandem
