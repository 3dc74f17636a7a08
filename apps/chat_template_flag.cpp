// --chat-template: a Jinja file that replaces the chat template a model file carries.
#include <fstream>
#include <sstream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "model/chat_template.h"
#include "observability/log.h"

namespace tandem {

void add_chat_template_flag(Flags& f) {
  f.add("chat-template", "",
        "Jinja file rendering chat requests instead of the model file's own tokenizer.chat_template (needed for a "
        "model without one)");
}

void apply_chat_template_flag(const Flags& flags, Tokenizer& tokenizer) {
  const std::string& path = flags.get("chat-template");
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError("--chat-template: cannot open " + path);
    std::stringstream text;
    text << in.rdbuf();
    tokenizer.set_chat_template(text.str());
  }
  const std::string problem = chat_template_problem(tokenizer);
  if (!problem.empty() && !path.empty()) throw UsageError("--chat-template " + path + ": " + problem);
  if (!problem.empty())
    log_event(LogLevel::warn, "chat_template_unusable", {{"why", problem}});  // chat requests get the reason
}

}  // namespace tandem
