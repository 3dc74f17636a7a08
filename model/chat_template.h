#pragma once
// The chat format of instruct models, recognised from the template in the model file.
#include <string>

namespace tandem {

class Tokenizer;

/// Wraps a single user message in the model's chat format (ChatML for Qwen and
/// SmolLM, Gemma's turns), with the default system message the template declares,
/// ending where the assistant's answer begins. Throws if the model has no known chat format.
std::string chat_prompt(const Tokenizer& tokenizer, const std::string& user_message);

}  // namespace tandem
