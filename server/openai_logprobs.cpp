#include "server/openai_logprobs.h"

#include <cstdio>

#include "model/unicode.h"

namespace tandem {
namespace {

using nlohmann::json;

// Whether every byte belongs to a valid UTF-8 character (a lone invalid byte decodes as a
// one-byte U+FFFD).
bool valid_utf8(const std::string& s) {
  for (const Utf8Char& c : utf8_chars(s))
    if (c.cp == 0xfffd && c.length == 1) return false;
  return true;
}

// A token's text; one that is part of a UTF-8 character is written "bytes:\xNN..." as
// OpenAI writes such tokens (its `bytes` field has them exactly).
std::string token_string(const std::string& bytes) {
  if (valid_utf8(bytes)) return bytes;
  std::string out = "bytes:";
  for (unsigned char c : bytes) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", c);
    out += hex;
  }
  return out;
}

json byte_list(const std::string& bytes) {
  json list = json::array();
  for (unsigned char c : bytes) list.push_back(int(c));
  return list;
}

std::string bytes_of(const Tokenizer& tokenizer, int32_t id) {
  return id >= 0 && id < tokenizer.vocab_size() ? tokenizer.token_bytes(id) : "";
}

}  // namespace

json chat_logprobs(const Tokenizer& tokenizer, const WireLogprobs& logprobs) {
  json content = json::array();
  for (const wire::TokenLogprob& l : logprobs) {
    const std::string bytes = bytes_of(tokenizer, l.id());
    json top = json::array();
    for (const wire::TopLogprob& t : l.top()) {
      const std::string top_bytes = bytes_of(tokenizer, t.id());
      top.push_back({{"token", token_string(top_bytes)}, {"logprob", t.logprob()}, {"bytes", byte_list(top_bytes)}});
    }
    content.push_back(
        {{"token", token_string(bytes)}, {"logprob", l.logprob()}, {"bytes", byte_list(bytes)}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs(const Tokenizer& tokenizer, const WireLogprobs& logprobs, int64_t& text_offset) {
  json tokens = json::array(), token_logprobs = json::array(), top_logprobs = json::array(), offsets = json::array();
  for (const wire::TokenLogprob& l : logprobs) {
    const std::string bytes = bytes_of(tokenizer, l.id());
    tokens.push_back(token_string(bytes));
    token_logprobs.push_back(l.logprob());
    json top = json::object();
    for (const wire::TopLogprob& t : l.top()) top[token_string(bytes_of(tokenizer, t.id()))] = t.logprob();
    top_logprobs.push_back(top);
    offsets.push_back(text_offset);
    text_offset += int64_t(bytes.size());
  }
  return {
      {"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", offsets}};
}

}  // namespace tandem
