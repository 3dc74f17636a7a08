#pragma once
// The values a Jinja template computes with, behaving as Python's do under jinja2 (the
// engine Hugging Face renders chat templates with): truthiness, equality, str() and repr().
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tandem::jinja {

/// A template that cannot be parsed or rendered; what() says why (and raise_exception's
/// message as the template wrote it).
struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Value;

/// How json.dumps writes: HF's tojson passes these through.
struct JsonStyle {
  int indent = -1;  // < 0: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;  // non-ASCII as \uXXXX escapes
};

using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // in insertion order, as Python's dicts

/// Positional and keyword arguments of a call.
struct Arguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
  /// The argument named `name`, else the `index`th positional one, else `otherwise`.
  const Value& get(const std::string& name, size_t index, const Value& otherwise) const;
};
using Function = std::function<Value(const Arguments&)>;

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() = default;  // undefined
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(int64_t(i)) {}
  Value(double d);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  Value(List list);
  Value(Dict dict);
  static Value function(Function f);
  /// A string marked safe (jinja2's Markup, from `| safe` or `| escape`): adding a plain
  /// string to it HTML-escapes that string, as markupsafe does.
  static Value markup(std::string s);
  /// A namespace(): a dict whose attributes a template may set.
  static Value name_space(Dict dict);
  /// Objects keep their keys' order; nesting past 128 levels is a TemplateError.
  static Value from_json(const nlohmann::ordered_json& j, int depth = 0);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kDict && namespace_; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }

  bool boolean() const { return b_; }
  /// The value as an integer (a float truncated, and clamped to int64's range).
  int64_t integer() const;
  double number() const { return kind_ == Kind::kFloat ? d_ : double(i_); }
  const std::string& string() const { return *s_; }
  List& list() const { return *list_; }
  Dict& dict() const { return *dict_; }
  const Function& callable() const { return *function_; }

  /// Python's bool(x).
  bool truthy() const;
  /// Python's str(x) (undefined: empty).
  std::string str() const;
  /// Python's repr(x).
  std::string repr() const;
  std::string repr(int depth) const;
  /// json.dumps(x, ...) as HF's tojson writes it.
  std::string to_json(const JsonStyle& style = {}) const;
  /// The dict's entry `key`, or undefined.
  Value get(const std::string& key) const;
  /// Whether `object` (a dict or namespace) is this value or inside it, as the very same object.
  bool holds(const Value& object, int depth = 0) const;
  /// Sets a dict's (or namespace's) entry `key`.
  void set(const std::string& key, Value v) const;
  /// len(x) for strings (code points), lists and dicts.
  int64_t length() const;
  /// What iterating gives: a list's items, a dict's keys, a string's characters.
  List items() const;
  std::string type_name() const;

  friend bool operator==(const Value& a, const Value& b);
  /// Python's ==; nesting past 128 levels (a namespace holding itself, say) is a TemplateError.
  static bool equal(const Value& a, const Value& b, int depth);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }
  /// Python's ordering for numbers, strings and lists; throws for other pairs.
  static int compare(const Value& a, const Value& b, int depth = 0);

 private:
  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool namespace_ = false;
  bool markup_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<std::string> s_;
  std::shared_ptr<List> list_;  // shared: a list or dict is one object however many names it has
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> function_;
};

/// The code points of UTF-8 `s`, each as its own string (Python's indexing unit).
std::vector<std::string> code_points(const std::string& s);

}  // namespace tandem::jinja
