// Structured output: a client's response_format (the input up to its first NUL) compiled into
// a grammar, and the rest of the input fed to the matcher byte by byte. A schema is refused
// with std::invalid_argument or compiled; the matcher takes or refuses each byte; nothing else.
#include <cstring>
#include <nlohmann/json.hpp>

#include "speculation/json_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* split = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t schema_size = split ? size_t(split - data) : size;
  nlohmann::json format;
  try {
    format = nlohmann::json::parse(data, data + schema_size);
  } catch (const nlohmann::json::exception&) { return 0; }
  std::shared_ptr<const tandem::JsonGrammar> grammar;
  try {
    grammar = tandem::response_format_grammar(format);
  } catch (const std::invalid_argument&) { return 0; }
  if (!grammar) return 0;
  tandem::JsonMatcher matcher(grammar);
  for (size_t i = schema_size + 1; i < size; ++i) {
    tandem::JsonMatcher copy(grammar);
    copy.copy_from(matcher);
    if (!matcher.feed(data[i])) break;
    (void)matcher.can_end();
    (void)matcher.key();
  }
  return 0;
}
