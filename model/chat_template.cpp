#include "model/chat_template.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "model/jinja/template.h"
#include "model/tokenizer.h"

namespace tandem {
namespace {

using jinja::Value;

Value json_argument(const std::string& text, const char* what, Value otherwise) {
  if (text.empty()) return otherwise;
  try {
    return Value::from_json(nlohmann::ordered_json::parse(text));
  } catch (const nlohmann::ordered_json::exception&) {
    throw std::invalid_argument(std::string(what) + " is not valid JSON");
  }
}

// The template's special-token variables, as HF passes its tokenizer's.
std::string special_token(const Tokenizer& tok, int32_t id) { return id >= 0 ? tok.token_text(id) : ""; }

}  // namespace

std::string chat_conversation(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages,
                              const ChatOptions& options) {
  const std::string& source = tokenizer.chat_template();
  if (source.empty())
    throw std::runtime_error(
        "this model has no chat template (a base model?): use completions, or give one with --chat-template");
  if (messages.empty()) throw std::invalid_argument("a conversation needs at least one message");
  std::unique_ptr<jinja::Template> tmpl;
  try {
    tmpl = std::make_unique<jinja::Template>(source);
  } catch (const jinja::TemplateError& e) {
    throw std::runtime_error(std::string("the model's chat template cannot be parsed: ") + e.what());
  }
  jinja::List turns;
  for (const ChatMessage& m : messages) {
    Value turn(jinja::Dict{{"role", Value(m.role)}, {"content", Value(m.content)}});
    const Value fields = json_argument(m.fields_json, "a message's fields", Value(jinja::Dict{}));
    for (const auto& [key, value] : fields.dict()) turn.set(key, value);
    turns.push_back(turn);
  }
  jinja::Dict context = {{"messages", Value(std::move(turns))},
                         {"tools", json_argument(options.tools_json, "'tools'", Value::none())},
                         {"add_generation_prompt", Value(options.add_generation_prompt)},
                         {"bos_token", Value(special_token(tokenizer, tokenizer.bos_id()))},
                         {"eos_token", Value(special_token(tokenizer, tokenizer.eos_id()))}};
  const Value extra = json_argument(options.template_kwargs_json, "'chat_template_kwargs'", Value(jinja::Dict{}));
  if (!extra.is_dict()) throw std::invalid_argument("'chat_template_kwargs' must be an object");
  for (const auto& [key, value] : extra.dict()) context.emplace_back(key, value);
  try {
    return tmpl->render(context);
  } catch (const jinja::TemplateError& e) {
    throw std::invalid_argument(std::string("the model's chat template refused the conversation: ") + e.what());
  }
}

std::string chat_prompt(const Tokenizer& tokenizer, const std::string& user_message) {
  return chat_conversation(tokenizer, {{"user", user_message, ""}});
}

std::vector<int32_t> encode_chat(const Tokenizer& tokenizer, const std::string& prompt) {
  const int32_t bos = tokenizer.bos_id();
  const bool written = bos >= 0 && prompt.rfind(tokenizer.token_text(bos), 0) == 0;
  return tokenizer.encode(prompt, tokenizer.add_bos() && !written, true);
}

std::string chat_template_problem(const Tokenizer& tokenizer) {
  if (tokenizer.chat_template().empty()) return "";
  try {
    jinja::Template check(tokenizer.chat_template());
    return "";
  } catch (const jinja::TemplateError& e) { return e.what(); }
}

}  // namespace tandem
