// The CUDA backend against the CPU one, and its own bit-stability: a token's logits are
// the same bits alone, in a prefill, in a tree batch and beside other sequences; truncate
// and commit work as on the CPU; every speculative mode's greedy output equals AR on the
// GPU. Without a usable GPU each GPU test reports itself skipped with the reason; the
// synthetic models the GPU tests use are checked on the CPU either way.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "kernels/device.h"
#if defined(TANDEM_CUDA_EMU)
#include "kernels/cuda/emu/simt.h"
#endif
#include "model/transformer.h"
#include "speculation/mode.h"
#include "synthetic_model.h"
#include "test_helpers.h"

namespace tandem {
namespace {

using test::chain_logits;
using test::expect_bit_identical;
using test::Logits;
constexpr Device kGpu{Device::Kind::Cuda, 0};

// Skips a test without a CUDA device; else says which kind runs it, so an emulated run is
// never taken for a GPU's.
#define SKIP_WITHOUT_GPU()                                                                                      \
  if (cuda_device_count() == 0)                                                                                 \
    GTEST_SKIP() << "no GPU: " << (built_with_cuda() ? "no CUDA device is usable here" : "built without CUDA"); \
  std::cout << "[  device  ] " << (cuda_emulated() ? "emulated: " : "GPU: ") << cuda_device_description(0) << std::endl

std::vector<int32_t> some_tokens(int n, int32_t vocab, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back(int32_t((i * 37 + salt * 101 + 11) % vocab));
  return ids;
}

// A model for a test: stories260K, or a synthetic one written once per process.
struct ModelCase {
  std::string name;
  test::SyntheticShape shape;  // unused for stories
  int segment;
};
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

std::string model_path(const ModelCase& c) {
  if (c.name == "stories260K") return test::stories_model();
  return test::write_synthetic_model(c.shape, test::temp_path(c.name + ".gguf"));
}

test::SyntheticShape shape(const std::string& arch, DType matrices, DType embedding, bool tied = true,
                           int64_t window = 0) {
  test::SyntheticShape s;
  s.architecture = arch;
  s.matrices = matrices;
  s.embedding = embedding;
  s.tied = tied;
  s.sliding_window = window;
  if (arch == "gemma3") s.layers = 7;  // six local layers, then a global one
  return s;
}

const std::vector<ModelCase>& model_cases() {
  static const std::vector<ModelCase> cases = {
      {"stories260K", {}, 16},
      {"llama_q4_k", shape("llama", DType::Q4_K, DType::Q6_K), 16},
      {"qwen2_q8_0_untied", shape("qwen2", DType::Q8_0, DType::Q6_K, false), 16},
      {"gemma3_q5_0_window8", shape("gemma3", DType::Q5_0, DType::Q4_K, true, 8), 16},
      {"llama_q4_0", shape("llama", DType::Q4_0, DType::Q8_0), 1024},
      {"llama_q4_1", shape("llama", DType::Q4_1, DType::Q4_1), 1024},
      {"qwen2_q6_k", shape("qwen2", DType::Q6_K, DType::Q6_K), 1024},
      {"llama_q5_k", shape("llama", DType::Q5_K, DType::Q5_K), 1024},
      {"llama_f16", shape("llama", DType::F16, DType::F16), 1024},
      {"llama_bf16", shape("llama", DType::BF16, DType::BF16), 1024},
      {"llama_f32", shape("llama", DType::F32, DType::F32), 1024},
  };
  return cases;
}

class Models : public ::testing::TestWithParam<ModelCase> {};

// Runs everywhere: the synthetic models load and give finite logits of a sensible size on
// the CPU, so a GPU comparison against them compares something.
TEST_P(Models, SyntheticModelGivesFiniteVariedLogitsOnTheCpu) {
  auto model = Model::load(model_path(GetParam()));
  Transformer cpu(*model, 2, GetParam().segment, MatmulPath::Float);
  auto logits = chain_logits(cpu, some_tokens(20, model->config().vocab_size, 1), 20);
  for (const Logits& row : logits) {
    float lo = row[0], hi = row[0];
    for (float v : row) {
      ASSERT_TRUE(std::isfinite(v));
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GT(hi - lo, 0.5f) << "logits nearly flat";
    EXPECT_LT(hi - lo, 1000.0f) << "logits out of scale";
  }
}

// GPU against the CPU's float path (the same dequantized values; only the order of the
// sums differs): every logit within 2e-3 of the row's largest magnitude.
TEST_P(Models, GpuLogitsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  auto model = Model::load(model_path(GetParam()));
  Transformer cpu(*model, 2, GetParam().segment, MatmulPath::Float);
  Transformer gpu(*model, 1, GetParam().segment, MatmulPath::Float, kGpu);
  const std::vector<int32_t> ids = some_tokens(40, model->config().vocab_size, 2);
  auto expected = chain_logits(cpu, ids, 16), got = chain_logits(gpu, ids, 16);
  ASSERT_EQ(expected.size(), got.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    float scale = 1.0f, worst = 0.0f;
    for (float v : expected[i]) scale = std::max(scale, std::fabs(v));
    for (size_t j = 0; j < expected[i].size(); ++j) worst = std::max(worst, std::fabs(expected[i][j] - got[i][j]));
    EXPECT_LE(worst, 2e-3f * scale) << "position " << i;
  }
}

TEST_P(Models, GpuPrefillChunksAndSingleTokensAgree) {
  SKIP_WITHOUT_GPU();
  auto model = Model::load(model_path(GetParam()));
  Transformer gpu(*model, 1, GetParam().segment, MatmulPath::Float, kGpu);
  const std::vector<int32_t> ids = some_tokens(23, model->config().vocab_size, 3);
  auto whole = chain_logits(gpu, ids, ids.size()), single = chain_logits(gpu, ids, 1),
       chunks = chain_logits(gpu, ids, 5);
  for (size_t i = 0; i < ids.size(); ++i) {
    expect_bit_identical(whole[i], single[i], "position " + std::to_string(i) + " prefill vs single");
    expect_bit_identical(whole[i], chunks[i], "position " + std::to_string(i) + " prefill vs chunks");
  }
}

// A tree for one sequence beside a chain for another, each node equal to its path run as a
// chain (test::expect_tree_beside_chain_matches_chains); then commit and truncate.
TEST_P(Models, GpuTreeBatchWithTwoSequencesMatchesChains) {
  SKIP_WITHOUT_GPU();
  auto model = Model::load(model_path(GetParam()));
  Transformer gpu(*model, 1, GetParam().segment, MatmulPath::Float, kGpu);
  test::TreeBesideChain t = test::expect_tree_beside_chain_matches_chains(gpu, 19);
  KvCache* caches[] = {&t.a, &t.b};
  const int64_t a0 = int64_t(t.prefix_a.size());

  // Commit A's branch 0-2-5: the next token sees exactly that path; truncating back to
  // the prefix and going on gives the chain's bits again.
  t.a.commit({0, 2, 5});
  ASSERT_EQ(t.a.length(), a0 + 3);
  const std::vector<BatchToken> next = {{t.token(40), 0, a0 + 3, -1, true}};
  // forward() returns a view of the backend's buffer, which the next forward overwrites (or
  // moves): copy it first.
  const std::span<const float> commit_view = gpu.forward(next, caches);
  const Logits after_commit(commit_view.begin(), commit_view.end());
  std::vector<int32_t> chain = t.prefix_a;
  chain.insert(chain.end(), {t.token(20), t.token(22), t.token(25), t.token(40)});
  expect_bit_identical(after_commit, chain_logits(gpu, chain, 7).back(), "after commit");
  t.a.truncate(a0);
  const std::vector<BatchToken> again = {{t.token(20), 0, a0, -1, true}};
  const std::span<const float> truncate_view = gpu.forward(again, caches);
  expect_bit_identical(Logits(truncate_view.begin(), truncate_view.end()), t.logits[0], "after truncate");
}

// On the emulator: a forward's logits are the same bits whatever order blocks and threads
// run in (a missing barrier or a race between blocks would change them).
TEST_P(Models, EmulatedLogitsDoNotDependOnTheOrderThreadsRunIn) {
#if defined(TANDEM_CUDA_EMU)
  SKIP_WITHOUT_GPU();
  auto model = Model::load(model_path(GetParam()));
  Transformer gpu(*model, 1, GetParam().segment, MatmulPath::Float, kGpu);
  const std::vector<int32_t> ids = some_tokens(12, model->config().vocab_size, 5);
  std::vector<std::vector<Logits>> runs;
  for (emu::Order order : {emu::Order::forward, emu::Order::reverse, emu::Order::shuffled}) {
    emu::set_order(order, 7);
    runs.push_back(chain_logits(gpu, ids, 5));
  }
  emu::set_order(emu::Order::forward);
  for (size_t i = 0; i < ids.size(); ++i) {
    expect_bit_identical(runs[0][i], runs[1][i], "position " + std::to_string(i) + ": forward vs reverse");
    expect_bit_identical(runs[0][i], runs[2][i], "position " + std::to_string(i) + ": forward vs shuffled");
  }
#else
  GTEST_SKIP() << "the order threads run in is the emulator's to choose; a GPU chooses its own";
#endif
}

INSTANTIATE_TEST_SUITE_P(Gpu, Models, ::testing::ValuesIn(model_cases()),
                         [](const auto& info) { return info.param.name; });

// stories260K's greedy continuation on the GPU is llama2.c's own (shared/data reference).
TEST(GpuGreedy, StoriesContinuationEqualsTheReference) {
  SKIP_WITHOUT_GPU();
  const nlohmann::json reference =
      test::read_json(test::shared_dir() + "/data/models/stories260K/greedy_llama2c.json")[0];
  auto model = Model::load(test::stories_model());
  Transformer gpu(*model, 1, kAttentionSegment, MatmulPath::Float, kGpu);
  GenerationOptions options;
  options.max_tokens = 64;
  const auto prompt = reference["prompt_ids"].get<std::vector<int32_t>>();
  GenerationResult result = generate_autoregressive(gpu, prompt, options, nullptr);
  auto expected = reference["greedy_ids"].get<std::vector<int32_t>>();
  expected.resize(std::min(expected.size(), result.ids.size()));
  EXPECT_EQ(result.ids.size(), 64u);
  EXPECT_EQ(result.ids, expected);
}

// Every mode's greedy output equals AR's on the GPU: the drafter (a perturbed stories260K,
// so some drafts are rejected) and the verifier on the same GPU.
TEST(GpuSpeculative, EveryModeGreedyEqualsAr) {
  SKIP_WITHOUT_GPU();
  auto target = Model::load(test::stories_model());
  auto draft = Model::load(test::perturbed_stories());
  Transformer target_tf(*target, 1, 16, MatmulPath::Float, kGpu), draft_tf(*draft, 1, 16, MatmulPath::Float, kGpu);
  const std::vector<int32_t> prompt = some_tokens(12, target->config().vocab_size, 4);
  GenerationOptions options;
  options.max_tokens = 48;
  ModeSettings ar;
  SpeculationStats stats;
  const std::vector<int32_t> expected = generate_in_mode(ar, target_tf, nullptr, prompt, options, stats, nullptr).ids;
  ASSERT_EQ(expected.size(), 48u);
  for (const Mode mode : {Mode::chain, Mode::tree, Mode::pearl, Mode::lookup, Mode::recycle}) {
    ModeSettings settings;
    settings.mode = mode;
    settings.draft_tokens = 4;
    SpeculationStats spec;
    const GenerationResult result = generate_in_mode(settings, target_tf, needs_draft_model(mode) ? &draft_tf : nullptr,
                                                     prompt, options, spec, nullptr);
    EXPECT_EQ(result.ids, expected) << mode_name(mode);
    if (needs_draft_model(mode)) { EXPECT_GT(spec.accepted, 0) << mode_name(mode) << ": no draft accepted"; }
  }
}

// Where no GPU is, asking for one is a clear error, not a crash or a silent CPU run.
TEST(GpuAbsent, AskingForCudaIsAClearError) {
#if defined(TANDEM_CUDA_EMU)
  // The emulator with no device is what a machine without a GPU looks like.
  const char* before = std::getenv("TANDEM_EMU_DEVICES");
  const std::string saved = before ? before : "";
  setenv("TANDEM_EMU_DEVICES", "0", 1);
  struct Restore {
    std::string value;
    bool had;
    ~Restore() { had ? setenv("TANDEM_EMU_DEVICES", value.c_str(), 1) : unsetenv("TANDEM_EMU_DEVICES"); }
  } restore{saved, before != nullptr};
#endif
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  auto model = Model::load(test::stories_model());
  try {
    Transformer gpu(*model, 1, kAttentionSegment, MatmulPath::Float, kGpu);
    FAIL() << "a CUDA transformer was made without a GPU";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tandem
