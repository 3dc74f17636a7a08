#pragma once
// The chat format of instruct models, recognised from the template in the model file.
#include <string>
#include <vector>

namespace tandem {

class Tokenizer;

/// One turn of a conversation.
struct ChatMessage {
  std::string role;  // system, user or assistant
  std::string content;
};

/// A conversation in the model's chat format (ChatML for Qwen and SmolLM, Gemma's
/// turns), ending where the assistant's next answer begins. A system message may come
/// first (ChatML: it replaces the template's default one; Gemma, which has no system
/// turn, puts it at the top of the first user turn); then user and assistant turns,
/// the last one the user's. Throws std::invalid_argument for another shape, and
/// std::runtime_error if the model has no known chat format.
std::string chat_conversation(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages);

/// A single user message as a conversation, with the template's default system message.
std::string chat_prompt(const Tokenizer& tokenizer, const std::string& user_message);

}  // namespace tandem
