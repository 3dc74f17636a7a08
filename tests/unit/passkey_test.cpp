// A long-context task that is not ours (the idea of llama.cpp's passkey example): a
// five-digit number hidden early in about 2,500 tokens of filler, asked for at the
// end. The real 1.5B target answers it with its committed segments on one KV shard
// and on two, with the same ids; the number sits in a segment the verifier no
// longer holds, so the answer comes through the shards' partials.
#include <gtest/gtest.h>

#include <chrono>

#include "shards/local_kv_shards.h"
#include "speculation/generation.h"
#include "test_helpers.h"

namespace tandem {
namespace {

constexpr int kSegment = 512;

std::string passkey_prompt(const std::string& key, int filler_before, int filler_after) {
  const std::string filler =
      "The river runs past the old mill. Birds sing in the morning. The road is long and quiet. "
      "Clouds drift over the hills. ";
  std::string text = "Somewhere in the long text below there is a pass key. Remember it; you will be asked for it.\n";
  for (int i = 0; i < filler_before; ++i) text += filler;
  text += "\nThe pass key is " + key + ". Keep it in mind: " + key + " is the pass key.\n";
  for (int i = 0; i < filler_after; ++i) text += filler;
  return text + "\nWhat is the pass key? The pass key is";
}

TEST(Passkey, TheRealTargetFindsItWithOneAndTwoShardsAlike) {
  auto model = Model::load(test::installed_model("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"));
  Transformer target(*model, 2, kSegment);
  const std::string key = "68217";
  const auto prompt = model->tokenizer().encode(passkey_prompt(key, 20, 80), model->tokenizer().add_bos());
  ASSERT_GT(prompt.size(), 2000u);
  std::vector<std::vector<int32_t>> answers;
  for (int shards : {1, 2}) {
    LocalKvShards local(shards, 1);
    GenerationOptions options;
    options.max_tokens = 6;
    options.max_context = 4096;
    options.kv_remote = sharded_kv_factory(local.links(), model->config(), kSegment, std::chrono::seconds(60));
    GenerationResult result = generate_autoregressive(target, prompt, options);
    EXPECT_NE(model->tokenizer().decode(result.ids).find(key), std::string::npos)
        << shards << " shard(s) answered '" << model->tokenizer().decode(result.ids) << "'";
    answers.push_back(result.ids);
  }
  EXPECT_EQ(answers[0], answers[1]);
}

}  // namespace
}  // namespace tandem
