#pragma once
// A conversation as its model was trained to read it: rendered through the chat template the
// GGUF carries (`tokenizer.chat_template`, or the file `--chat-template` names) by tandem's
// Jinja interpreter (model/jinja/template.h), with the variables Hugging Face passes.
#include <cstdint>
#include <string>
#include <vector>

namespace tandem {

class Tokenizer;

/// One message of a conversation.
struct ChatMessage {
  std::string role;  // system, user, assistant, tool, ...
  std::string content;
  /// The message's other fields as a JSON object (OpenAI's tool_calls, tool_call_id, name;
  /// "content": null for an assistant's tool call), or empty. They override role and content.
  std::string fields_json;
};

struct ChatOptions {
  std::string tools_json;            // a JSON array of tool definitions, or empty: `tools` is none
  std::string template_kwargs_json;  // a JSON object of extra template variables, or empty
  bool add_generation_prompt = true;
};

/// The conversation in the model's chat format, ending where the assistant's next answer
/// begins. Throws std::runtime_error if the model has no chat template (a base model) or
/// one that cannot be parsed, and std::invalid_argument when the template refuses this
/// conversation (its raise_exception's words) or fails on it.
std::string chat_conversation(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                              const ChatOptions& options = {});

/// A single user message as a conversation.
std::string chat_prompt(const Tokenizer& tokenizer, const std::string& user_message);

/// A rendered conversation's token ids: control tokens' text as those tokens, and BOS first
/// where the model wants it, once (templates that write bos_token themselves keep theirs).
std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, const std::string& prompt);

/// Why the model's chat template cannot be parsed, or empty when it can (or there is none).
std::string chat_template_problem(const Tokenizer& tokenizer);

}  // namespace tandem
