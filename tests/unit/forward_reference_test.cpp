// Logits of every real model agree with an independent numpy forward.
#include <gtest/gtest.h>

#include <cmath>

#include "model/transformer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

class ForwardParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardParity, LogitsWithin1e3OfMaxLogit) {
  const std::string name = GetParam();
  auto model = Model::load(test::installed_model(name));
  Transformer transformer(*model, 2);
  auto manifest = test::read_json(test::reference_file("forward-" + name + ".json"));
  std::vector<float> expected = test::read_floats(test::reference_file("forward-" + name + ".bin"));
  const int64_t vocab = manifest["vocab"];
  ASSERT_EQ(vocab, model->config().vocab_size);
  size_t at = 0;
  for (const auto& prompt : manifest["prompts"]) {
    auto ids = prompt.get<std::vector<int32_t>>();
    KvCache cache(model->config(), 64);
    KvCache* caches[] = {&cache};
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.push_back({ids[i], 0, int64_t(i), int32_t(i) - 1, true});
    auto logits = transformer.forward(batch, caches);
    ASSERT_EQ(logits.size(), ids.size() * size_t(vocab));
    for (size_t t = 0; t < ids.size(); ++t) {
      float max_abs = 0.0f, max_diff = 0.0f;
      for (int64_t v = 0; v < vocab; ++v) {
        float want = expected[at + t * size_t(vocab) + size_t(v)];
        max_abs = std::max(max_abs, std::fabs(want));
        max_diff = std::max(max_diff, std::fabs(logits[t * size_t(vocab) + size_t(v)] - want));
      }
      EXPECT_LE(max_diff, 1e-3f * max_abs) << name << " position " << t << " (max |logit| " << max_abs << ")";
    }
    at += ids.size() * size_t(vocab);
  }
  EXPECT_EQ(at, expected.size());
}

INSTANTIATE_TEST_SUITE_P(RealModels, ForwardParity, ::testing::ValuesIn(test::kRealModels),
                         [](const auto& info) { return std::to_string(info.index); });

}  // namespace
}  // namespace tandem
