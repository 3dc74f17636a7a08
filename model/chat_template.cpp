#include "model/chat_template.h"

#include <stdexcept>

#include "model/tokenizer.h"

namespace tandem {
namespace {

// The default system message a ChatML template writes when the conversation has
// none: the first literal "<|im_start|>system\n...<|im_end|>" in the template,
// whose newline may be written as a real newline or as the escape "\n".
std::string default_system_message(const std::string& tmpl) {
  const std::string open = "<|im_start|>system", close = "<|im_end|>";
  for (size_t at = tmpl.find(open); at != std::string::npos; at = tmpl.find(open, at + 1)) {
    size_t begin = at + open.size();
    if (tmpl.compare(begin, 1, "\n") == 0)
      begin += 1;
    else if (tmpl.compare(begin, 2, "\\n") == 0)
      begin += 2;
    else
      continue;
    size_t end = tmpl.find(close, begin);
    if (end == std::string::npos) break;
    std::string text = tmpl.substr(begin, end - begin);
    if (text.find_first_of("'\"{}") == std::string::npos) return text;
  }
  return "";
}

// Checks the conversation's shape: [system] (user assistant)* user.
void check_turns(const std::vector<ChatMessage>& messages) {
  if (messages.empty()) throw std::invalid_argument("a conversation needs at least one user message");
  size_t first = messages[0].role == "system" ? 1 : 0;
  if (first == messages.size()) throw std::invalid_argument("a conversation needs a user message after the system one");
  for (size_t i = first; i < messages.size(); ++i) {
    const std::string want = (i - first) % 2 == 0 ? "user" : "assistant";
    if (messages[i].role != want)
      throw std::invalid_argument("message " + std::to_string(i) + " has role '" + messages[i].role + "' where '" +
                                  want + "' belongs (turns go [system] user assistant user ...)");
  }
  if (messages.back().role != "user") throw std::invalid_argument("the last message must be the user's");
}

}  // namespace

std::string chat_conversation(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) {
  const std::string& tmpl = tokenizer.chat_template();
  const bool chatml = tmpl.find("<|im_start|>") != std::string::npos;
  const bool gemma = !chatml && tmpl.find("<start_of_turn>") != std::string::npos;
  if (tmpl.empty()) throw std::runtime_error("this model has no chat template (a base model?): run it without --chat");
  if (!chatml && !gemma)
    throw std::runtime_error(
        "this model's chat template is neither ChatML nor Gemma turns, which is all tandem understands");
  check_turns(messages);
  const bool has_system = messages[0].role == "system";
  std::string prompt;
  if (chatml) {
    std::string system = has_system ? messages[0].content : default_system_message(tmpl);
    if (has_system || !system.empty()) prompt += "<|im_start|>system\n" + system + "<|im_end|>\n";
    for (size_t i = has_system ? 1 : 0; i < messages.size(); ++i)
      prompt += "<|im_start|>" + messages[i].role + "\n" + messages[i].content + "<|im_end|>\n";
    return prompt + "<|im_start|>assistant\n";
  }
  for (size_t i = has_system ? 1 : 0; i < messages.size(); ++i) {
    const bool user = messages[i].role == "user";
    std::string content = messages[i].content;
    if (has_system && i == 1) content = messages[0].content + "\n\n" + content;
    prompt += std::string("<start_of_turn>") + (user ? "user" : "model") + "\n" + content + "<end_of_turn>\n";
  }
  return prompt + "<start_of_turn>model\n";
}

std::string chat_prompt(const Tokenizer& tokenizer, const std::string& user_message) {
  return chat_conversation(tokenizer, {{"user", user_message}});
}

}  // namespace tandem
