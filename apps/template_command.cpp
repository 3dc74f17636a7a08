// tandem template: what a model is shown for a conversation, rendered through its chat
// template (the GGUF's, or --chat-template's) exactly as `tandem serve` renders it.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/commands.h"
#include "apps/flags.h"
#include "model/chat_template.h"
#include "server/openai_request.h"

namespace tandem {
namespace {

using json = nlohmann::ordered_json;  // keys in the file's order, as the server keeps them

// One conversation object: {"messages": [...], "tools": [...], "add_generation_prompt": b,
// any other key a template variable}; messages as OpenAI's (checked as the server checks them).
std::string render(const Tokenizer& tok, const json& conversation) {
  if (!conversation.is_object() || !conversation.contains("messages"))
    throw std::invalid_argument("a conversation is an object with 'messages'");
  std::vector<ChatMessage> messages = chat_messages(conversation["messages"]);
  ChatOptions options;
  json kwargs = json::object();
  for (const auto& [key, value] : conversation.items()) {
    if (key == "tools" && !value.is_null())
      options.tools_json = value.dump();
    else if (key == "add_generation_prompt")
      options.add_generation_prompt = value.get<bool>();
    else if (key != "messages" && key != "tools")
      kwargs[key] = value;
  }
  options.template_kwargs_json = kwargs.dump();
  return chat_conversation(tok, messages, options);
}

}  // namespace

int run_template(const std::vector<std::string>& args) {
  Flags flags("tandem template",
              "Prints the prompt a model is shown for a conversation: the messages rendered through its chat "
              "template, as the server renders them.");
  flags.add("model", kDefaultModel, "model whose tokenizer and chat template are used");
  add_chat_template_flag(flags);
  flags.add("conversation", "-",
            "JSON file ('-': standard input): {\"messages\": [...], \"tools\": [...], \"add_generation_prompt\": "
            "true, other template variables}; or an array of them, answered with a JSON array of "
            "{\"prompt\"} or {\"error\"}");
  if (!flags.parse(args)) return 0;
  auto model = Model::load(resolve_model_path(flags.get("model")));
  Tokenizer& tok = model->tokenizer();
  apply_chat_template_flag(flags, tok);
  std::stringstream text;
  if (flags.get("conversation") == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(flags.get("conversation"), std::ios::binary);
    if (!in) throw UsageError("--conversation: cannot open " + flags.get("conversation"));
    text << in.rdbuf();
  }
  json input;
  try {
    input = json::parse(text.str());
  } catch (const json::parse_error& e) { throw UsageError(std::string("--conversation is not JSON: ") + e.what()); }
  if (!input.is_array()) {
    std::cout << render(tok, input);
    return 0;
  }
  json answers = json::array();
  for (const json& conversation : input) try {
      answers.push_back({{"prompt", render(tok, conversation)}});
    } catch (const std::exception& e) { answers.push_back({{"error", e.what()}}); }
  std::cout << answers.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";  // bytes not UTF-8: U+FFFD
  return 0;
}

}  // namespace tandem
