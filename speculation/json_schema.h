#pragma once
// Structured output: a JSON schema (OpenAI's response_format json_schema, or any JSON object
// for json_object) compiled into the grammar that constrains decoding (json_matcher.h).
//
// Supported: type (object, array, string, number, integer, boolean, null, or a list of them),
// properties, required, additionalProperties (false, true or a schema), items, minItems,
// maxItems, minLength, maxLength, enum and const (of strings, numbers, booleans, null),
// anyOf / oneOf whose alternatives begin with different characters (e.g. a string or null),
// $ref into $defs / definitions (recursion included), and the descriptive keywords (title,
// description, examples, default, $schema, $id, $comment, strict). Anything else (pattern,
// format, minimum, ...) is refused: the output could not be promised to follow it.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tandem {

/// Strings matched byte by byte: each node's children by byte, and which string ends there.
struct ByteTrie {
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    int32_t ends = -1;   // index of the string ending here, -1: none
    uint64_t below = 0;  // bit i: string i (i < 64) passes through here (an object's unwritten keys)
  };
  std::vector<Node> nodes = {Node{}};  // node 0: the root
  void add(const std::string& s, int32_t index);
  /// The child of `node` by `byte`, or -1.
  int32_t child(int32_t node, uint8_t byte) const;
};

struct SchemaNode {
  enum class Type : uint8_t { kAny, kObject, kArray, kString, kNumber, kInteger, kLiteral, kUnion };
  Type type = Type::kAny;
  // kObject: property names and schemas, the required ones, and what other keys may have.
  std::vector<std::string> names;
  std::vector<int32_t> properties;
  uint64_t required = 0;         // bit i: names[i]
  int32_t additional = -1;       // schema of other keys' values; -1: no other keys
  ByteTrie keys;                 // names, matched as the key is written
  int32_t items = -1;            // kArray: the items' schema
  int32_t min_count = 0;         // kArray: items; kString: characters
  int32_t max_count = -1;        // -1: no limit
  ByteTrie literals;             // kLiteral: the JSON texts allowed
  std::vector<int32_t> options;  // kUnion: alternatives, each starting with its own characters
};

/// A compiled schema: nodes[root] is what the whole output must be.
struct JsonGrammar {
  std::vector<SchemaNode> nodes;
  int32_t root = 0;
  // Shared nodes for any JSON value (json_object's members, additionalProperties: true, ...).
  int32_t any_value = -1, any_object = -1, any_array = -1, any_string = -1, any_number = -1, any_literal = -1;
};

/// Compiles `schema`; throws std::invalid_argument naming what is not supported or not valid.
std::shared_ptr<const JsonGrammar> compile_json_schema(const nlohmann::json& schema);

/// The grammar of any JSON object (response_format json_object).
std::shared_ptr<const JsonGrammar> any_json_object();

/// The grammar OpenAI's `response_format` asks for: null for {"type": "text"}; throws
/// std::invalid_argument for a malformed one or an unsupported schema.
std::shared_ptr<const JsonGrammar> response_format_grammar(const nlohmann::json& response_format);

}  // namespace tandem
