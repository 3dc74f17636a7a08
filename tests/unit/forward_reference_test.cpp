// Logits of every real model agree with an independent numpy forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "model/transformer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

struct Case {
  std::string model;
  MatmulPath path;
  float tolerance;        // allowed |ours - reference| as a fraction of max |logit|
  double mean_kl = 1e-6;  // allowed mean KL(reference || ours) over the checked positions
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << "/" << matmul_path_name(c.path); }

Case int8_case(const std::string& model) {
  // Measured (worst |difference| / max |logit|, mean KL, same top token): Gemma 0.21, 3.5e-2,
  // 37/44 (its activations have large outliers); SmolLM 0.048, 4.6e-3, 39/39; Qwen 0.5B 0.028,
  // 9.1e-4, 37/40; Qwen 1.5B 0.105, 7.5e-3, 40/40.
  if (model.find("gemma") != std::string::npos) return {model, MatmulPath::Int8, 0.3f, 5e-2};
  return {model, MatmulPath::Int8, 0.15f, 1.5e-2};
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const auto& m : test::kRealModels) {
    // The issue asks for 1e-3; both paths are held to ten times tighter.
    all.push_back({m, MatmulPath::Int16, 1e-4f});
    all.push_back({m, MatmulPath::Float, 1e-4f});
    // One int16 term per activation (about 15 bits): measured 2e-4 to 8e-4 on the Qwen and
    // SmolLM models and 2.5e-3 on Gemma, whose activations have large outliers.
    all.push_back({m, MatmulPath::Int16Fast, 4e-3f, 1e-5});
    // 8-bit activation blocks (the default path): each dot product moves by up to half a
    // quantization step per activation, and 20-30 layers compound it. The largest logit
    // differences land on unlikely tokens, so the distribution is held by its KL divergence
    // and the extremes only loosely (docs/engine.md, "Quality of the int8 path"; measured values in the comments
    // below).
    all.push_back(int8_case(m));
  }
  return all;
}

class ForwardParity : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardParity, LogitsCloseToNumpyReference) {
  const std::string name = GetParam().model;
  const float tolerance = GetParam().tolerance;
  auto model = Model::load(test::installed_model(name));
  Transformer transformer(*model, 2, kAttentionSegment, GetParam().path);
  auto manifest = test::read_json(test::reference_file("forward-" + name + ".json"));
  std::vector<float> expected = test::read_floats(test::reference_file("forward-" + name + ".bin"));
  const int64_t vocab = manifest["vocab"];
  ASSERT_EQ(vocab, model->config().vocab_size);
  size_t at = 0;
  float worst = 0.0f;  // largest |ours - reference| / max |logit| seen
  double kl_sum = 0.0;
  int positions_seen = 0, same_top = 0;
  for (size_t p = 0; p < manifest["prompts"].size(); ++p) {
    auto ids = manifest["prompts"][p].get<std::vector<int32_t>>();
    auto positions = manifest["positions"][p].get<std::vector<size_t>>();
    KvCache cache(model->config(), 1024);
    KvCache* caches[] = {&cache};
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.push_back({ids[i], 0, int64_t(i), int32_t(i) - 1, false});
    for (size_t i : positions) batch[i].logits = true;
    auto logits = transformer.forward(batch, caches);
    ASSERT_EQ(logits.size(), positions.size() * size_t(vocab));
    for (size_t t = 0; t < positions.size(); ++t) {
      float max_abs = 0.0f, max_diff = 0.0f;
      for (int64_t v = 0; v < vocab; ++v) {
        float want = expected[at + t * size_t(vocab) + size_t(v)];
        max_abs = std::max(max_abs, std::fabs(want));
        max_diff = std::max(max_diff, std::fabs(logits[t * size_t(vocab) + size_t(v)] - want));
      }
      const float* ours = &logits[t * size_t(vocab)];
      const float* want = &expected[at + t * size_t(vocab)];
      kl_sum += test::kl_divergence(want, ours, vocab);
      same_top += std::max_element(ours, ours + vocab) - ours == std::max_element(want, want + vocab) - want;
      ++positions_seen;
      EXPECT_LE(max_diff, tolerance * max_abs)
          << name << " position " << positions[t] << " (max |logit| " << max_abs << ")";
      worst = std::max(worst, max_diff / max_abs);
    }
    at += positions.size() * size_t(vocab);
  }
  EXPECT_EQ(at, expected.size());
  const double mean_kl = kl_sum / positions_seen;
  EXPECT_LE(mean_kl, GetParam().mean_kl) << name;
  RecordProperty("worst_relative_difference", std::to_string(worst));
  std::printf("%s %s: worst |difference| / max |logit| = %.2e, mean KL %.2e, same top token %d/%d\n", name.c_str(),
              matmul_path_name(GetParam().path), worst, mean_kl, same_top, positions_seen);
}

INSTANTIATE_TEST_SUITE_P(RealModels, ForwardParity, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::to_string(info.index); });

}  // namespace
}  // namespace tandem
