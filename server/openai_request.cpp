#include "server/openai_request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "speculation/stop_matcher.h"

namespace tandem {
namespace {

using json = nlohmann::ordered_json;

// body[key] as an integer in [low, high], or `otherwise` when absent or null.
int64_t integer_field(const json& body, const char* key, int64_t otherwise, int64_t low, int64_t high) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return otherwise;
  const std::string range = " between " + std::to_string(low) + " and " + std::to_string(high);
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    if (v > uint64_t(high) || int64_t(v) < low)
      throw std::invalid_argument(std::string("'") + key + "' must be" + range);
    return int64_t(v);
  }
  if (!it->is_number_integer()) throw std::invalid_argument(std::string("'") + key + "' must be an integer" + range);
  const int64_t v = it->get<int64_t>();
  if (v < low || v > high) throw std::invalid_argument(std::string("'") + key + "' must be" + range);
  return v;
}

// body[key] as a finite number in [low, high], or `otherwise` when absent or null.
double number_field(const json& body, const char* key, double otherwise, double low, double high) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return otherwise;
  const double v = it->is_number() ? it->get<double>() : std::numeric_limits<double>::quiet_NaN();
  if (!std::isfinite(v) || v < low || v > high)
    throw std::invalid_argument(std::string("'") + key + "' must be a number between " + std::to_string(low) + " and " +
                                std::to_string(high));
  return v;
}

// body["seed"]: any integer in [0, 2^64) (a sample's seed, server/sample_group.h, may pass 2^63), 0 when absent.
uint64_t seed_field(const json& body) {
  auto it = body.find("seed");
  if (it == body.end() || it->is_null()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return uint64_t(it->get<int64_t>());
  throw std::invalid_argument("'seed' must be an integer between 0 and 18446744073709551615");
}

bool bool_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw std::invalid_argument(std::string("'") + key + "' must be true or false");
  return it->get<bool>();
}

std::string string_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) throw std::invalid_argument(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

// OpenAI's `stop`: absent, null, a string or an array of strings.
std::vector<std::string> stop_sequences(const json& body) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return {};
  if (it->is_string()) return {it->get<std::string>()};
  std::vector<std::string> stops;
  if (it->is_array())
    for (const json& s : *it)
      if (s.is_string()) stops.push_back(s.get<std::string>());
  if (!it->is_array() || stops.size() != it->size())
    throw std::invalid_argument("'stop' must be a string or an array of strings");
  check_stop_sequences(stops);
  return stops;
}

// body["tools"]: absent, null, or an array of objects, passed to the chat template as JSON.
std::string tools_field(const json& body) {
  auto it = body.find("tools");
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_array()) throw std::invalid_argument("'tools' must be an array of tool definitions");
  for (const json& tool : *it)
    if (!tool.is_object()) throw std::invalid_argument("each of 'tools' must be an object");
  return it->dump();
}

// body[key]: absent, null or an object, as JSON text (empty when absent).
std::string object_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_object()) throw std::invalid_argument(std::string("'") + key + "' must be an object");
  return it->dump();
}

// A message's content as text: a string, or an array of {"type": "text", "text": ...} parts.
std::string content_text(const json& content, size_t index) {
  if (content.is_string()) return content.get<std::string>();
  const std::string where = "message " + std::to_string(index) + ": ";
  if (!content.is_array()) throw std::invalid_argument(where + "'content' must be a string, null or an array of parts");
  std::string text;
  for (const json& part : content) {
    if (!part.is_object() || part.value("type", json()) != "text" || !part.value("text", json()).is_string())
      throw std::invalid_argument(where + "only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
    if (!text.empty()) text += '\n';
    text += part["text"].get_ref<const std::string&>();
  }
  return text;
}

}  // namespace

std::vector<ChatMessage> chat_messages(const json& messages) {
  if (!messages.is_array() || messages.empty()) throw std::invalid_argument("'messages' must be a non-empty array");
  std::vector<ChatMessage> out;
  for (const json& message : messages) {
    const std::string where = "message " + std::to_string(out.size()) + ": ";
    if (!message.is_object() || !message.value("role", json()).is_string())
      throw std::invalid_argument(where + "each message needs a string 'role'");
    ChatMessage m{message["role"].get<std::string>(), "", ""};
    json fields = json::object();
    const json content = message.value("content", json());
    if (content.is_null())
      fields["content"] = nullptr;
    else
      m.content = content_text(content, out.size());
    for (const auto& [key, value] : message.items())
      if (key != "role" && key != "content") fields[key] = value;
    if (!fields.empty()) m.fields_json = fields.dump();
    out.push_back(std::move(m));
  }
  return out;
}

// How deeply arrays and objects nest in `value`, counted without recursion (a body nested a
// million deep must not take the stack of whatever walks it next).
size_t nesting(const json& value) {
  size_t deepest = 0;
  std::vector<std::pair<const json*, size_t>> open = {{&value, 1}};
  while (!open.empty()) {
    const auto [v, depth] = open.back();
    open.pop_back();
    if (!v->is_structured()) continue;
    deepest = std::max(deepest, depth);
    for (const json& child : *v) open.emplace_back(&child, depth + 1);
  }
  return deepest;
}

json parse_body(const std::string& body) {
  try {
    json parsed = json::parse(body);
    if (!parsed.is_object()) throw std::invalid_argument("the body must be a JSON object");
    if (nesting(parsed) > kMaxBodyNesting)
      throw std::invalid_argument("the body nests arrays and objects more than " + std::to_string(kMaxBodyNesting) +
                                  " deep");
    return parsed;
  } catch (const json::parse_error& e) {
    // e.what() quotes the bytes read, which may not be UTF-8: say only where.
    throw std::invalid_argument("the body is not valid JSON in UTF-8 (error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::out_of_range&) { throw std::invalid_argument("a number in the body is out of range"); }
}

wire::SubmitRequest openai_submit(const json& body, bool chat) {
  wire::SubmitRequest r;
  if (chat) {
    if (!body.contains("messages")) throw std::invalid_argument("'messages' must be an array");
    for (const ChatMessage& m : chat_messages(body["messages"])) {
      wire::ChatTurn* turn = r.add_messages();
      turn->set_role(m.role);
      turn->set_content(m.content);
      turn->set_fields_json(m.fields_json);
    }
    r.set_tools_json(tools_field(body));
    r.set_template_kwargs_json(object_field(body, "chat_template_kwargs"));
    r.set_chat(true);
  } else {
    if (!body.contains("prompt") || !body["prompt"].is_string())
      throw std::invalid_argument("'prompt' must be a string");
    r.set_text(body["prompt"].get<std::string>());
  }
  // n samples share the prompt's cache; the server refuses more than its batch holds.
  r.set_n(uint32_t(integer_field(body, "n", 1, 1, kMaxSamples)));
  r.set_first_finish(bool_field(body, "first_finish"));  // tandem's extension: First Finish Search
  // tandem's extension: "cache": false keeps the prompt out of the prefix cache both ways.
  r.set_no_prefix_cache(body.contains("cache") && !body["cache"].is_null() && !bool_field(body, "cache"));
  for (const std::string& s : stop_sequences(body)) r.add_stop(s);
  // OpenAI's defaults: 16 tokens for completions, temperature 1, top_p 1.
  r.set_max_tokens(int32_t(integer_field(body, "max_tokens", chat ? 0 : 16, 0, std::numeric_limits<int32_t>::max())));
  wire::Sampling& s = *r.mutable_sampling();
  s.set_temperature(float(number_field(body, "temperature", 1.0, 0.0, kMaxTemperature)));
  s.set_top_p(float(number_field(body, "top_p", 1.0, 0.0, 1.0)));
  s.set_top_k(int32_t(integer_field(body, "top_k", 0, 0, std::numeric_limits<int32_t>::max())));
  s.set_seed(seed_field(body));
  // Log probabilities: chat's logprobs (true/false) and top_logprobs (0 to 20); completions'
  // logprobs (0 to 5 alternatives; null or absent: none).
  if (chat) {
    r.set_logprobs(bool_field(body, "logprobs"));
    r.set_top_logprobs(uint32_t(integer_field(body, "top_logprobs", 0, 0, kMaxTopLogprobs)));
    if (r.top_logprobs() > 0 && !r.logprobs()) throw std::invalid_argument("'top_logprobs' needs 'logprobs': true");
  } else {
    const int64_t alternatives = integer_field(body, "logprobs", -1, 0, 5);
    r.set_logprobs(alternatives >= 0);
    r.set_top_logprobs(uint32_t(std::max<int64_t>(alternatives, 0)));
  }
  // Structured output: checked (and compiled) where the request runs, which answers 400.
  if (body.contains("response_format") && !body["response_format"].is_null())
    r.set_response_format_json(body["response_format"].dump());
  r.set_mode(string_field(body, "mode"));  // tandem's extension
  r.set_stream(bool_field(body, "stream"));
  return r;
}

}  // namespace tandem
