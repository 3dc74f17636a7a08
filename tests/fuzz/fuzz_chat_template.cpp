// Chat templates (--chat-template, a GGUF's tokenizer.chat_template): parsed and rendered with a
// conversation that has a system message, turns, tools and a tool call. A template may be
// anything an operator loads; whatever it is, the answer is a prompt or a TemplateError.
#include <nlohmann/json.hpp>

#include "model/jinja/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tandem::jinja::Value;
  static const Value messages = Value::from_json(nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi {{ x }}"},
    {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
    {"role": "tool", "content": "42"}, {"role": "user", "content": "ünï"}])"));
  static const Value tools = Value::from_json(nlohmann::ordered_json::parse(R"([{"type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}])"));
  try {
    tandem::jinja::Template tmpl(std::string(reinterpret_cast<const char*>(data), size));
    (void)tmpl.render({{"messages", messages},
                       {"tools", tools},
                       {"add_generation_prompt", Value(true)},
                       {"bos_token", Value("<s>")},
                       {"eos_token", Value("</s>")}});
  } catch (const tandem::jinja::TemplateError&) {}
  return 0;
}
