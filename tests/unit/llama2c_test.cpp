// The llama2.c format: greedy output identical to llama2.c's run.c, and clear errors for broken files.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "model/mapped_file.h"
#include "model/model.h"
#include "speculation/generation.h"
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

// A copy of stories260K whose header field `index` (0 dim ... 5 vocab_size, 6 seq_len) is `value`.
std::string with_header_field(int index, int32_t value) {
  std::string path = copy_truncated(size_t(1) << 30);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(index * 4);
  f.write(reinterpret_cast<char*>(&value), 4);
  return path;
}

std::string load_error(const std::string& path) {
  try {
    Model::load(path, std::string(TANDEM_SHARED_DIR) + "/data/models/stories260K/tokenizer.bin");
  } catch (const FormatError& e) { return e.what(); }
  return "no error";
}

// Found by bench/fuzz.sh (llama2c target): each was a sanitizer report before its fix.
TEST(Llama2c, FuzzFindingsAreRefusedCleanly) {
  // A vocabulary smaller than the 3 control and 256 byte tokens: read past the types table.
  EXPECT_NE(load_error(with_header_field(5, 2)).find("2 tokens are too few"), std::string::npos);
  EXPECT_NE(load_error(with_header_field(5, 200)).find("200 tokens are too few"), std::string::npos);
  // The most negative vocabulary size (a separate classifier): negating it overflowed.
  EXPECT_NE(load_error(with_header_field(5, INT32_MIN)).find("vocab_size = -2147483648 is not plausible"),
            std::string::npos);
  // Shapes whose products overflow 64 bits: the arrays' sizes wrapped around.
  std::string path = copy_truncated(28);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const int32_t huge[7] = {1 << 24, 1 << 24, 1 << 24, 1 << 22, 1 << 22, 1 << 24, 1 << 24};
    f.write(reinterpret_cast<const char*>(huge), sizeof huge);
  }
  EXPECT_NE(load_error(path).find("more than 2^62 bytes"), std::string::npos) << load_error(path);
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
