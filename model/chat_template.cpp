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

}  // namespace

std::string chat_prompt(const Tokenizer& tokenizer, const std::string& user_message) {
  const std::string& tmpl = tokenizer.chat_template();
  if (tmpl.find("<|im_start|>") != std::string::npos) {
    std::string system = default_system_message(tmpl);
    std::string prompt;
    if (!system.empty()) prompt += "<|im_start|>system\n" + system + "<|im_end|>\n";
    return prompt + "<|im_start|>user\n" + user_message + "<|im_end|>\n<|im_start|>assistant\n";
  }
  if (tmpl.find("<start_of_turn>") != std::string::npos)
    return "<start_of_turn>user\n" + user_message + "<end_of_turn>\n<start_of_turn>model\n";
  if (tmpl.empty()) throw std::runtime_error("this model has no chat template (a base model?): run it without --chat");
  throw std::runtime_error(
      "this model's chat template is neither ChatML nor Gemma turns, which is all tandem understands");
}

}  // namespace tandem
