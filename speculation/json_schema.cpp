#include "speculation/json_schema.h"

#include <bitset>
#include <map>
#include <set>
#include <stdexcept>

namespace tandem {
namespace {

using nlohmann::json;
using Type = SchemaNode::Type;

const std::set<std::string> kDescriptive = {"title", "description", "examples", "default", "$schema",
                                            "$id",   "$comment",    "strict",   "$defs",   "definitions"};
const std::set<std::string> kSupported = {"type",      "properties", "required", "additionalProperties",
                                          "items",     "minItems",   "maxItems", "minLength",
                                          "maxLength", "enum",       "const",    "anyOf",
                                          "oneOf",     "$ref"};
constexpr size_t kMaxProperties = 64;  // an object's named properties (a bit each while decoding)

std::invalid_argument unsupported(const std::string& what) {
  return std::invalid_argument("response_format: " + what +
                               " (supported: type, properties, required, additionalProperties, items, minItems, "
                               "maxItems, minLength, maxLength, enum, const, anyOf/oneOf of alternatives that begin "
                               "differently, $ref to $defs)");
}

class Compiler {
 public:
  explicit Compiler(const json& document) : document_(document) {
    grammar_.any_value = add({});
    grammar_.any_object = add({});
    grammar_.any_array = add({});
    grammar_.any_string = add({});
    grammar_.any_number = add({});
    grammar_.any_literal = add({});
    node(grammar_.any_object).type = Type::kObject;
    node(grammar_.any_object).additional = grammar_.any_value;
    node(grammar_.any_array).type = Type::kArray;
    node(grammar_.any_array).items = grammar_.any_value;
    node(grammar_.any_string).type = Type::kString;
    node(grammar_.any_number).type = Type::kNumber;
    node(grammar_.any_literal).type = Type::kLiteral;
    int32_t i = 0;
    for (const char* word : {"true", "false", "null"}) node(grammar_.any_literal).literals.add(word, i++);
  }

  JsonGrammar finish(int32_t root) {
    grammar_.root = root;
    return std::move(grammar_);
  }

  int32_t compile(const json& schema, int depth = 0) {
    if (depth > 64) throw unsupported("a schema nested more than 64 deep");
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) throw unsupported("the schema false (nothing matches it)");
      return grammar_.any_value;
    }
    if (!schema.is_object()) throw std::invalid_argument("response_format: a schema must be an object");
    for (const auto& [key, value] : schema.items())
      if (!kDescriptive.count(key) && !kSupported.count(key)) throw unsupported("'" + key + "' is not supported");
    if (schema.contains("$ref")) return reference(schema["$ref"], depth);
    if (schema.contains("const")) return literals(json::array({schema["const"]}));
    if (schema.contains("enum")) return literals(schema["enum"]);
    for (const char* key : {"anyOf", "oneOf"})
      if (schema.contains(key)) {
        if (!schema[key].is_array() || schema[key].empty())
          throw std::invalid_argument(std::string("response_format: '") + key + "' must be a non-empty array");
        std::vector<int32_t> options;
        for (const json& option : schema[key]) options.push_back(compile(option, depth + 1));
        return union_of(options);
      }
    if (schema.contains("type") && schema["type"].is_array()) {
      std::vector<int32_t> options;
      for (const json& type : schema["type"]) {
        json single = schema;
        single["type"] = type;
        options.push_back(compile(single, depth + 1));
      }
      return union_of(options);
    }
    if (schema.contains("type") && !schema["type"].is_string())
      throw std::invalid_argument("response_format: 'type' must be a string or an array of strings");
    std::string type = schema.value("type", "");
    if (type.empty()) type = schema.contains("properties") ? "object" : schema.contains("items") ? "array" : "any";
    if (type == "any") return grammar_.any_value;
    if (type == "object") return object(schema, depth);
    if (type == "array") {
      const int32_t n = add({});
      const int32_t items = schema.contains("items") ? compile(schema["items"], depth + 1) : grammar_.any_value;
      node(n).type = Type::kArray;
      node(n).items = items;
      bounds(schema, "minItems", "maxItems", node(n));
      return n;
    }
    if (type == "string") {
      if (!schema.contains("minLength") && !schema.contains("maxLength")) return grammar_.any_string;
      const int32_t n = add({});
      node(n).type = Type::kString;
      bounds(schema, "minLength", "maxLength", node(n));
      return n;
    }
    if (type == "number") return grammar_.any_number;
    if (type == "integer") {
      const int32_t n = add({});
      node(n).type = Type::kInteger;
      return n;
    }
    if (type == "boolean") return literals(json::array({true, false}));
    if (type == "null") return literals(json::array({nullptr}));
    throw std::invalid_argument("response_format: unknown type '" + type + "'");
  }

 private:
  SchemaNode& node(int32_t i) { return grammar_.nodes[size_t(i)]; }
  int32_t add(SchemaNode n) {
    grammar_.nodes.push_back(std::move(n));
    return int32_t(grammar_.nodes.size() - 1);
  }

  static void bounds(const json& schema, const char* low, const char* high, SchemaNode& n) {
    auto read = [&](const char* key, int32_t otherwise) {
      if (!schema.contains(key)) return otherwise;
      if (!schema[key].is_number_unsigned() || schema[key].get<uint64_t>() > 1'000'000)
        throw std::invalid_argument(std::string("response_format: '") + key + "' must be an integer from 0 to 1000000");
      return int32_t(schema[key].get<uint64_t>());
    };
    n.min_count = read(low, 0);
    n.max_count = read(high, -1);
    if (n.max_count >= 0 && n.max_count < n.min_count)
      throw std::invalid_argument(std::string("response_format: '") + high + "' is below '" + low + "'");
  }

  int32_t reference(const json& ref, int depth) {
    if (!ref.is_string()) throw std::invalid_argument("response_format: '$ref' must be a string");
    const std::string path = ref.get<std::string>();
    auto known = references_.find(path);
    if (known != references_.end()) return known->second;
    std::string name;
    for (const char* prefix : {"#/$defs/", "#/definitions/"})
      if (path.rfind(prefix, 0) == 0) name = path.substr(std::string(prefix).size());
    const char* folder = path.rfind("#/$defs/", 0) == 0 ? "$defs" : "definitions";
    if (name.empty() || !document_.contains(folder) || !document_[folder].contains(name))
      throw unsupported("'$ref' to '" + path + "', which is not in the schema's $defs");
    // A placeholder first, so that a schema referring to itself finds it.
    const int32_t placeholder = add({});
    references_[path] = placeholder;
    const int32_t compiled = compile(document_[folder][name], depth + 1);
    grammar_.nodes[size_t(placeholder)] = grammar_.nodes[size_t(compiled)];
    return placeholder;
  }

  int32_t literals(const json& values) {
    if (!values.is_array() || values.empty())
      throw std::invalid_argument("response_format: 'enum' must be a non-empty array");
    const int32_t n = add({});
    node(n).type = Type::kLiteral;
    int32_t i = 0;
    for (const json& v : values) {
      if (v.is_object() || v.is_array()) throw unsupported("an enum or const of objects or arrays is not supported");
      node(n).literals.add(v.dump(), i++);  // the JSON text the output must hold
    }
    return n;
  }

  int32_t object(const json& schema, int depth) {
    const int32_t n = add({});
    node(n).type = Type::kObject;
    const json properties = schema.value("properties", json::object());
    if (!properties.is_object()) throw std::invalid_argument("response_format: 'properties' must be an object");
    if (properties.size() > kMaxProperties) throw unsupported("more than 64 properties in one object");
    for (const auto& [name, property] : properties.items()) {
      for (unsigned char c : name)
        if (c < 0x20 || c == '"' || c == '\\')
          throw unsupported("a property name with quotes, backslashes or control characters");
      const int32_t value = compile(property, depth + 1);
      node(n).keys.add(name, int32_t(node(n).names.size()));
      node(n).names.push_back(name);
      node(n).properties.push_back(value);
    }
    for (const json& required : schema.value("required", json::array())) {
      const auto& names = node(n).names;
      const auto it =
          required.is_string() ? std::find(names.begin(), names.end(), required.get<std::string>()) : names.end();
      if (it == names.end()) throw std::invalid_argument("response_format: a required property is not in 'properties'");
      node(n).required |= uint64_t(1) << (it - names.begin());
    }
    const json additional = schema.value("additionalProperties", json(true));
    int32_t additional_node = -1;
    if (!additional.is_boolean())
      additional_node = compile(additional, depth + 1);
    else if (additional.get<bool>())
      additional_node = grammar_.any_value;
    node(n).additional = additional_node;
    return n;
  }

  std::bitset<256> first_bytes(int32_t i, int depth = 0) {
    std::bitset<256> bytes;
    const SchemaNode& n = grammar_.nodes[size_t(i)];
    switch (n.type) {
      case Type::kAny:
        if (depth > 0) return bytes.set();
        for (int32_t any :
             {grammar_.any_object, grammar_.any_array, grammar_.any_string, grammar_.any_number, grammar_.any_literal})
          bytes |= first_bytes(any, depth + 1);
        return bytes;
      case Type::kObject: return bytes.set('{');
      case Type::kArray: return bytes.set('[');
      case Type::kString: return bytes.set('"');
      case Type::kNumber:
      case Type::kInteger:
        for (char c : std::string("-0123456789")) bytes.set(uint8_t(c));
        return bytes;
      case Type::kLiteral:
        for (const auto& [byte, child] : n.literals.nodes[0].children) bytes.set(byte);
        return bytes;
      case Type::kUnion:
        for (int32_t option : n.options) bytes |= first_bytes(option, depth + 1);
        return bytes;
    }
    return bytes;
  }

  int32_t union_of(const std::vector<int32_t>& options) {
    if (options.size() == 1) return options[0];
    std::bitset<256> seen;
    for (int32_t option : options) {
      const std::bitset<256> bytes = first_bytes(option);
      if ((seen & bytes).any())
        throw unsupported("anyOf/oneOf (or a list of types) whose alternatives can begin with the same character");
      seen |= bytes;
    }
    const int32_t n = add({});
    node(n).type = Type::kUnion;
    node(n).options = options;
    return n;
  }

  const json& document_;
  JsonGrammar grammar_;
  std::map<std::string, int32_t> references_;
};

}  // namespace

void ByteTrie::add(const std::string& s, int32_t index) {
  const uint64_t bit = index < 64 ? uint64_t(1) << index : 0;
  int32_t at = 0;
  nodes[0].below |= bit;
  for (unsigned char c : s) {
    int32_t next = child(at, c);
    if (next < 0) {
      next = int32_t(nodes.size());
      nodes.push_back({});
      nodes[size_t(at)].children.emplace_back(c, next);
    }
    at = next;
    nodes[size_t(at)].below |= bit;
  }
  nodes[size_t(at)].ends = index;
}

int32_t ByteTrie::child(int32_t node, uint8_t byte) const {
  for (const auto& [b, next] : nodes[size_t(node)].children)
    if (b == byte) return next;
  return -1;
}

std::shared_ptr<const JsonGrammar> compile_json_schema(const json& schema) {
  try {
    Compiler compiler(schema);
    const int32_t root = compiler.compile(schema);
    return std::make_shared<const JsonGrammar>(compiler.finish(root));
  } catch (const json::exception&) {  // a keyword of the wrong JSON type somewhere
    throw std::invalid_argument("response_format: the schema has a keyword of the wrong type");
  }
}

std::shared_ptr<const JsonGrammar> any_json_object() {
  Compiler compiler(json::object());
  JsonGrammar grammar = compiler.finish(0);
  grammar.root = grammar.any_object;
  return std::make_shared<const JsonGrammar>(std::move(grammar));
}

std::shared_ptr<const JsonGrammar> response_format_grammar(const json& format) {
  if (format.is_null()) return nullptr;
  if (!format.is_object() || !format.value("type", json()).is_string())
    throw std::invalid_argument("'response_format' must be an object with a string 'type'");
  const std::string type = format["type"].get<std::string>();
  if (type == "text") return nullptr;
  if (type == "json_object") return any_json_object();
  if (type != "json_schema")
    throw std::invalid_argument("'response_format' type must be text, json_object or json_schema, not '" + type + "'");
  const json spec = format.value("json_schema", json());
  if (!spec.is_object() || !spec.contains("schema"))
    throw std::invalid_argument("'response_format' json_schema needs {\"name\": ..., \"schema\": {...}}");
  return compile_json_schema(spec["schema"]);
}

}  // namespace tandem
