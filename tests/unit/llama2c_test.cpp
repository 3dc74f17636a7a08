// The llama2.c format: greedy output identical to llama2.c's run.c, and clear errors for broken files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/mapped_file.h"
#include "model/model.h"
#include "spec/generation.h"
#include "test_helpers.h"

namespace tandem {
namespace {

TEST(Llama2c, GreedyIdsMatchLlama2cRunC) {
  auto model = Model::load(test::stories_model());
  Transformer transformer(*model, 2);
  auto reference = test::read_json(std::string(TANDEM_SHARED_DIR) + "/data/models/stories260K/greedy_llama2c.json");
  ASSERT_EQ(reference.size(), 3u);
  for (const auto& r : reference) {
    std::string prompt = r["prompt"];
    auto prompt_ids = model->tokenizer().encode(prompt, true);
    EXPECT_EQ(prompt_ids, r["prompt_ids"].get<std::vector<int32_t>>()) << prompt;
    GenerationOptions options;
    options.max_tokens = int(r["steps"].get<int>() - int(prompt_ids.size()) + 1);
    auto result = generate_autoregressive(transformer, prompt_ids, options);
    EXPECT_EQ(result.ids, r["greedy_ids"].get<std::vector<int32_t>>()) << prompt;
    std::vector<int32_t> all = prompt_ids;
    all.insert(all.end(), result.ids.begin(), result.ids.end());
    EXPECT_EQ(model->tokenizer().decode(all), r["text"].get<std::string>()) << prompt;
  }
}

std::string copy_truncated(size_t bytes) {
  std::string path = test::temp_path("stories.bin");
  std::ifstream in(test::stories_model(), std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(path, std::ios::binary) << data.substr(0, bytes);
  return path;
}

TEST(Llama2c, TruncatedCheckpointNamesTheArray) {
  std::string path = copy_truncated(1000);
  try {
    Model::load(path, std::string(TANDEM_SHARED_DIR) + "/data/models/stories260K/tokenizer.bin");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": token_embedding needs 131072 bytes at offset 28"), std::string::npos)
        << e.what();
  }
}

TEST(Llama2c, ImplausibleHeader) {
  std::string path = copy_truncated(28);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  int32_t heads = -3;
  f.seekp(12);
  f.write(reinterpret_cast<char*>(&heads), 4);
  f.close();
  EXPECT_THROW(Model::load(path), FormatError);
}

TEST(Llama2c, MissingTokenizer) {
  std::string dir = test::temp_path("stories-dir");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(test::stories_model(), dir + "/model.bin");
  try {
    Model::load(dir + "/model.bin");
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/tokenizer.bin: cannot open"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tandem
