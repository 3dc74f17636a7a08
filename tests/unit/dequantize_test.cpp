// Dequantization of real tensors of the real models matches the `gguf` package.
#include "kernels/dequantize.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/gguf_file.h"
#include "test_helpers.h"

namespace tandem {
namespace {

class DequantizeParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DequantizeParity, RowsMatchGgufPackage) {
  const std::string name = GetParam();
  GgufFile file(test::installed_model(name));
  auto manifest = test::read_json(test::reference_file("dequant-" + name + ".json"));
  std::vector<float> expected = test::read_floats(test::reference_file("dequant-" + name + ".bin"));
  size_t at = 0;
  ASSERT_FALSE(manifest["tensors"].empty());
  for (const auto& entry : manifest["tensors"]) {
    const GgufTensor* t = file.find_tensor(entry["tensor"].get<std::string>());
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(std::string(dtype_info(t->type).name), entry["type"].get<std::string>());
    const int64_t cols = entry["cols"];
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r : entry["rows"].get<std::vector<int64_t>>()) {
      const char* src = static_cast<const char*>(t->data) + size_t(r) * row_bytes(t->type, cols);
      dequantize_row(t->type, src, row.data(), cols);
      int mismatches = 0;
      for (int64_t c = 0; c < cols; ++c, ++at) {
        // Same formula in float32; allow one rounding step of difference in the order of operations.
        float tolerance = 1e-6f * std::max(1.0f, std::fabs(expected[at]));
        if (std::fabs(row[size_t(c)] - expected[at]) > tolerance && ++mismatches <= 3)
          ADD_FAILURE() << name << " " << t->name << " row " << r << " col " << c << ": " << row[size_t(c)] << " vs "
                        << expected[at];
      }
      EXPECT_EQ(mismatches, 0) << t->name << " row " << r;
    }
  }
  EXPECT_EQ(at, expected.size());
}

INSTANTIATE_TEST_SUITE_P(RealModels, DequantizeParity, ::testing::ValuesIn(test::kRealModels),
                         [](const auto& info) { return std::to_string(info.index); });

TEST(Dequantize, HalfPrecisionEdgeCases) {
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(fp16_to_fp32(0x7c00)));
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
}

TEST(Dequantize, Q8_0Block) {
  // d = 0.5 (fp16 0x3800), values -3..28
  std::string block(34, '\0');
  block[0] = 0x00;
  block[1] = 0x38;
  for (int i = 0; i < 32; ++i) block[size_t(2 + i)] = char(i - 3);
  std::vector<float> out(32);
  dequantize_row(DType::Q8_0, block.data(), out.data(), 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(out[size_t(i)], 0.5f * float(i - 3));
}

}  // namespace
}  // namespace tandem
