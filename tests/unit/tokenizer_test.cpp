// Tokenizers: parity with Hugging Face tokenizers on every Spec-Bench turn, the
// llama2.c vocabulary, special tokens, chat prompts and streaming decode.
#include <gtest/gtest.h>

#include "model/chat_template.h"
#include "model/gguf_file.h"
#include "model/model.h"
#include "model/pretokenizer.h"
#include "test_helpers.h"

namespace tandem {
namespace {

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParity, SpecBenchIdsMatchHuggingFace) {
  const std::string name = GetParam();
  Tokenizer tok = Tokenizer::from_gguf(GgufFile(test::installed_model(name)));
  auto reference = test::read_json(test::reference_file("tokens-" + name + ".json"));
  const auto& texts = reference["texts"];
  const auto& ids = reference["ids"];
  ASSERT_EQ(texts.size(), 560u);  // 480 prompts, 80 of them with a second turn
  int mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto ours = tok.encode(texts[i].get<std::string>(), false);
    auto theirs = ids[i].get<std::vector<int32_t>>();
    if (ours != theirs && ++mismatches <= 3)
      ADD_FAILURE() << name << " text " << i << ": " << texts[i].get<std::string>().substr(0, 80);
    // Decoding gives the text back, byte for byte.
    if (mismatches == 0) { EXPECT_EQ(tok.decode(ours), texts[i].get<std::string>()) << i; }
  }
  EXPECT_EQ(mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(RealModels, TokenizerParity, ::testing::ValuesIn(test::kRealModels),
                         [](const auto& info) { return std::to_string(info.index); });

TEST(Tokenizer, Llama2cPromptsMatchRunC) {
  auto model = Model::load(test::stories_model());
  auto reference = test::read_json(std::string(TANDEM_SHARED_DIR) + "/data/models/stories260K/greedy_llama2c.json");
  for (const auto& r : reference)
    EXPECT_EQ(model->tokenizer().encode(r["prompt"].get<std::string>(), true),
              r["prompt_ids"].get<std::vector<int32_t>>());
}

TEST(Tokenizer, SpecialTokensOnlyWhenAsked) {
  Tokenizer tok = Tokenizer::from_gguf(GgufFile(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")));
  int32_t im_start = tok.find("<|im_start|>");
  ASSERT_GE(im_start, 0);
  auto parsed = tok.encode("<|im_start|>user", false, true);
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0], im_start);
  auto plain = tok.encode("<|im_start|>user", false, false);
  EXPECT_GT(plain.size(), 2u);  // user text cannot inject control tokens
  EXPECT_TRUE(tok.is_stop(tok.find("<|im_end|>")));
  EXPECT_TRUE(tok.is_stop(tok.find("<|endoftext|>")));
}

TEST(Tokenizer, ChatPromptUsesTheModelsTemplate) {
  auto qwen = Tokenizer::from_gguf(GgufFile(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")));
  EXPECT_EQ(chat_prompt(qwen, "Hi"),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  auto smol = Tokenizer::from_gguf(GgufFile(test::installed_model("smollm2-135m-instruct-q4_1.gguf")));
  EXPECT_EQ(chat_prompt(smol, "Hi"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(Tokenizer, ChatConversationsFollowTheTemplate) {
  auto qwen = Tokenizer::from_gguf(GgufFile(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")));
  EXPECT_EQ(
      chat_conversation(
          qwen, {{"system", "Be brief.", ""}, {"user", "Hi", ""}, {"assistant", "Hello.", ""}, {"user", "Bye", ""}}),
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chat_conversation(qwen, {{"user", "Hi", ""}}), chat_prompt(qwen, "Hi"));  // the default system message
  // Tools and a tool call's fields reach the template (Qwen2.5's renders both).
  ChatOptions tools{R"([{"type": "function", "function": {"name": "now", "parameters": {}}}])", "", true};
  const std::string with_tools = chat_conversation(
      qwen,
      {{"user", "Time?", ""},
       {"assistant", "", R"({"content": null, "tool_calls": [{"function": {"name": "now", "arguments": {}}}]})"},
       {"tool", "12:00", ""}},
      tools);
  EXPECT_NE(with_tools.find(
                "<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"now\", \"parameters\": {}}}\n</tools>"),
            std::string::npos)
      << with_tools;
  EXPECT_NE(with_tools.find("<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"), std::string::npos);
  EXPECT_NE(with_tools.find("<tool_response>\n12:00\n</tool_response>"), std::string::npos);
}

TEST(Tokenizer, ChatTemplatesRefuseWithTheirOwnWordsAndBaseModelsHaveNone) {
  auto error_of = [](const Tokenizer& tok, const std::vector<ChatMessage>& turns) {
    try {
      chat_conversation(tok, turns);
    } catch (const std::exception& e) { return std::string(e.what()); }
    return std::string("(rendered)");
  };
  auto mistral = Tokenizer::from_gguf(GgufFile(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")));
  mistral.set_chat_template(
      test::read_file(test::installed_model("chat-templates/mistralai-Mistral-Nemo-Instruct-2407.jinja")));
  EXPECT_EQ(error_of(mistral, {{"user", "a", ""}, {"user", "b", ""}}),
            "the model's chat template refused the conversation: After the optional system message, conversation "
            "roles must alternate user/assistant/user/assistant/...");
  EXPECT_EQ(error_of(mistral, {}), "a conversation needs at least one message");
  auto base = Tokenizer::from_gguf(GgufFile(test::installed_model("gemma-3-270m-q4_k_m.gguf")));
  EXPECT_EQ(error_of(base, {{"user", "a", ""}}),
            "this model has no chat template (a base model?): use completions, or give one with --chat-template");
  base.set_chat_template("{% for m in messages %}{{ m.content }}{% endfor %");
  EXPECT_EQ(error_of(base, {{"user", "a", ""}}),
            "the model's chat template cannot be parsed: chat template line 1: a tag is never closed with '%}'");
}

TEST(Tokenizer, StreamingHoldsBackIncompleteUtf8) {
  Tokenizer tok = Tokenizer::from_gguf(GgufFile(test::installed_model("smollm2-135m-instruct-q4_1.gguf")));
  const std::string text = "caf\xc3\xa9 \xe0\xbd\x80\xf0\x9d\x84\x9e\xe1\x88\xb4!";  // café ཀ𝄞ሴ!
  auto ids = tok.encode(text, false);
  StreamDecoder decoder(tok);
  std::string joined;
  bool split_somewhere = false;
  for (int32_t id : ids) {
    std::string piece = decoder.push(id);
    // Every piece handed out is complete UTF-8 on its own.
    EXPECT_EQ(tok.decode(tok.encode(piece, false)), piece);
    size_t raw = tok.token_bytes(id).size();
    if (piece.size() != raw) split_somewhere = true;
    joined += piece;
  }
  joined += decoder.flush();
  EXPECT_EQ(joined, text);
  EXPECT_TRUE(split_somewhere) << "this text should have multi-byte characters split across tokens";
}

TEST(Tokenizer, UnknownTokenIdIsAnError) {
  auto model = Model::load(test::stories_model());
  EXPECT_THROW(model->tokenizer().token_bytes(512), std::out_of_range);
  EXPECT_THROW(model->tokenizer().token_bytes(-1), std::out_of_range);
}

TEST(Tokenizer, InvalidUtf8InputStillRoundTrips) {
  Tokenizer tok = Tokenizer::from_gguf(GgufFile(test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")));
  const std::string text = "ok \xff\xfe bytes \xc3";
  EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
}

TEST(PreTokenizer, Qwen2Splits) {
  auto pieces = pretokenize(PreTokenizer::Qwen2, "Hello world's 123  \n\n  x+=1;");
  std::vector<std::string> got(pieces.begin(), pieces.end());
  std::vector<std::string> want = {"Hello", " world", "'s", " ", "1", "2", "3", "  \n\n", " ", " x", "+=", "1", ";"};
  EXPECT_EQ(got, want);
}

TEST(PreTokenizer, SmolLmSplitsDigits) {
  auto pieces = pretokenize(PreTokenizer::SmolLm, "In 2024 we're  ok");
  std::vector<std::string> got(pieces.begin(), pieces.end());
  std::vector<std::string> want = {"In", " ", "2", "0", "2", "4", " we", "'re", " ", " ok"};
  EXPECT_EQ(got, want);
}

// max_bytes_per_token is what lets the server refuse a huge prompt without tokenizing it, so
// it must be a true bound: no text, however repetitive or odd, makes fewer tokens than it says.
TEST(Tokenizer, NoTextMakesFewerTokensThanItsBytesOverMaxBytesPerToken) {
  std::vector<std::string> texts = {std::string(5000, ' '), std::string(5000, '\n'), std::string(4000, '='),
                                    std::string(3000, 'a'), "<|im_start|><|im_end|><|endoftext|>"};
  std::string mixed;
  for (int i = 0; i < 2000; ++i) mixed += char(32 + (i * 7919) % 95);
  texts.push_back(mixed + "漢字 é \xff\xfe");
  for (const std::string& path : {test::installed_model("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
                                  test::installed_model("gemma-3-270m-q4_k_m.gguf")}) {
    const Tokenizer tok = Tokenizer::from_gguf(GgufFile(path));
    EXPECT_GE(tok.max_bytes_per_token(), 4u);
    for (const std::string& text : texts)
      for (bool special : {false, true})
        EXPECT_GE(tok.encode(text, false, special).size(), text.size() / tok.max_bytes_per_token())
            << path << ": " << text.substr(0, 20) << " (" << text.size() << " bytes)";
  }
  auto stories = Model::load(test::stories_model());
  for (const std::string& text : texts)
    EXPECT_GE(stories->tokenizer().encode(text, false).size(),
              text.size() / stories->tokenizer().max_bytes_per_token());
}

}  // namespace
}  // namespace tandem
