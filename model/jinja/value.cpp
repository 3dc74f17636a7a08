#include "model/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "model/unicode.h"

namespace tandem::jinja {
namespace {

constexpr int kMaxNesting = 128;  // lists and dicts inside one another, as a value is printed or compared

// Python's repr() of a float: the shortest digits that read back, written fixed when the
// exponent is in [-4, 16) and as d.ddde+XX otherwise; integral values keep a ".0".
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d, std::chars_format::scientific);
  std::string sci(buffer, end);  // [-]d[.ddd]e[+-]XX
  const bool negative = sci[0] == '-';
  const size_t e = sci.find('e');
  std::string digits = sci.substr(negative ? 1 : 0, e - (negative ? 1 : 0));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(size_t(-exponent - 1), '0') + digits;
    } else if (size_t(exponent) + 1 >= digits.size()) {
      out += digits + std::string(size_t(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, size_t(exponent) + 1) + "." + digits.substr(size_t(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp;
}

std::string string_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const char quote = has_single && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (unsigned char c : s) {
    if (c == '\\' || c == quote) {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += char(c);
    }
  }
  return out + quote;
}

void append_escape(uint32_t unit, std::string& out) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "\\u%04x", unit);
  out += hex;
}

// A string as JSON writes it; with ensure_ascii, what is not ASCII as \uXXXX (UTF-16 units).
std::string json_string(const std::string& s, bool ensure_ascii) {
  std::string out = "\"";
  for (const Utf8Char& c : utf8_chars(s)) {
    switch (c.cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c.cp < 0x20) {
          append_escape(c.cp, out);
        } else if (c.cp >= 0x10000 && ensure_ascii) {  // a UTF-16 surrogate pair
          append_escape(0xd800 + ((c.cp - 0x10000) >> 10), out);
          append_escape(0xdc00 + ((c.cp - 0x10000) & 0x3ff), out);
        } else if (c.cp >= 0x80 && ensure_ascii) {
          append_escape(c.cp, out);
        } else {
          out.append(s, c.offset, c.length);
        }
    }
  }
  return out + "\"";
}

void write_json(const Value& v, const JsonStyle& style, int depth, std::string& out) {
  if (depth > kMaxNesting) throw TemplateError("a value nested more than 128 deep (or holding itself)");
  const bool indented = style.indent >= 0;
  const std::string newline = indented ? "\n" + std::string(size_t(style.indent) * size_t(depth + 1), ' ') : "";
  const std::string closing = indented ? "\n" + std::string(size_t(style.indent) * size_t(depth), ' ') : "";
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: out += "null"; return;
    case Value::Kind::kBool: out += v.boolean() ? "true" : "false"; return;
    case Value::Kind::kInt: out += std::to_string(v.integer()); return;
    case Value::Kind::kFloat: {
      const double d = v.number();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : float_repr(d);
      return;
    }
    case Value::Kind::kString: out += json_string(v.string(), style.ensure_ascii); return;
    case Value::Kind::kList: {
      if (v.list().empty()) {
        out += "[]";
        return;
      }
      out += "[";
      for (size_t i = 0; i < v.list().size(); ++i) {
        out += (i ? style.item_separator : "") + newline;
        write_json(v.list()[i], style, depth + 1, out);
      }
      out += closing + "]";
      return;
    }
    case Value::Kind::kDict: {
      if (v.dict().empty()) {
        out += "{}";
        return;
      }
      Dict entries = v.dict();
      if (style.sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.first < b.first; });
      out += "{";
      for (size_t i = 0; i < entries.size(); ++i) {
        out += (i ? style.item_separator : "") + newline + json_string(entries[i].first, style.ensure_ascii) +
               style.key_separator;
        write_json(entries[i].second, style, depth + 1, out);
      }
      out += closing + "}";
      return;
    }
    case Value::Kind::kFunction: throw TemplateError("a function cannot be written as JSON");
  }
}

}  // namespace

std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (const Utf8Char& c : utf8_chars(s)) out.push_back(s.substr(c.offset, c.length));
  return out;
}

const Value& Arguments::get(const std::string& name, size_t index, const Value& otherwise) const {
  for (const auto& [key, value] : keywords)
    if (key == name) return value;
  return index < positional.size() ? positional[index] : otherwise;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value::Value(bool b) : kind_(Kind::kBool), b_(b), i_(b ? 1 : 0) {}
Value::Value(int64_t i) : kind_(Kind::kInt), i_(i) {}
Value::Value(double d) : kind_(Kind::kFloat), d_(d) {}
Value::Value(std::string s) : kind_(Kind::kString), s_(std::make_shared<std::string>(std::move(s))) {}
Value::Value(List list) : kind_(Kind::kList), list_(std::make_shared<List>(std::move(list))) {}
Value::Value(Dict dict) : kind_(Kind::kDict), dict_(std::make_shared<Dict>(std::move(dict))) {}

Value Value::function(Function f) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.function_ = std::make_shared<Function>(std::move(f));
  return v;
}

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

Value Value::name_space(Dict dict) {
  Value v(std::move(dict));
  v.namespace_ = true;
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j, int depth) {
  if (depth > 128) throw TemplateError("JSON nested more than 128 deep");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(int64_t(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List list;
      for (const auto& item : j) list.push_back(from_json(item, depth + 1));
      return Value(std::move(list));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict dict;
      for (const auto& [key, item] : j.items()) dict.emplace_back(key, from_json(item, depth + 1));
      return Value(std::move(dict));
    }
    default: throw TemplateError("a JSON value of an unexpected type");
  }
}

int64_t Value::integer() const {
  if (kind_ != Kind::kFloat) return i_;
  if (std::isnan(d_)) return 0;
  if (d_ >= 9.2e18) return INT64_MAX;
  if (d_ <= -9.2e18) return INT64_MIN;
  return int64_t(d_);
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_ != 0;
    case Kind::kFloat: return d_ != 0;
    case Kind::kString: return !s_->empty();
    case Kind::kList: return !list_->empty();
    case Kind::kDict: return !dict_->empty();
    case Kind::kFunction: return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::kUndefined: return "";
    case Kind::kString: return *s_;
    default: return repr();
  }
}

std::string Value::repr() const { return repr(0); }

std::string Value::repr(int depth) const {
  if (depth > kMaxNesting) throw TemplateError("a value nested more than 128 deep (or holding itself)");
  switch (kind_) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return b_ ? "True" : "False";
    case Kind::kInt: return std::to_string(i_);
    case Kind::kFloat: return float_repr(d_);
    case Kind::kString: return string_repr(*s_);
    case Kind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < list_->size(); ++i) out += (i ? ", " : "") + (*list_)[i].repr(depth + 1);
      return out + "]";
    }
    case Kind::kDict: {
      std::string out = namespace_ ? "<Namespace {" : "{";
      for (size_t i = 0; i < dict_->size(); ++i)
        out += (i ? ", " : "") + string_repr((*dict_)[i].first) + ": " + (*dict_)[i].second.repr(depth + 1);
      return out + (namespace_ ? "}>" : "}");
    }
    case Kind::kFunction: return "<function>";
  }
  return "";
}

std::string Value::to_json(const JsonStyle& style) const {
  std::string out;
  write_json(*this, style, 0, out);
  return out;
}

Value Value::get(const std::string& key) const {
  if (kind_ != Kind::kDict) return Value();
  for (const auto& [k, v] : *dict_)
    if (k == key) return v;
  return Value();
}

bool Value::holds(const Value& object, int depth) const {
  if (depth > kMaxNesting) throw TemplateError("a value nested more than 128 deep (or holding itself)");
  if (kind_ == Kind::kDict && dict_ == object.dict_) return true;
  if (kind_ == Kind::kList)
    for (const Value& item : *list_)
      if (item.holds(object, depth + 1)) return true;
  if (kind_ == Kind::kDict)
    for (const auto& entry : *dict_)
      if (entry.second.holds(object, depth + 1)) return true;
  return false;
}

void Value::set(const std::string& key, Value v) const {
  if (kind_ != Kind::kDict) throw TemplateError("cannot set '" + key + "' on a " + type_name());
  for (auto& [k, existing] : *dict_)
    if (k == key) {
      existing = std::move(v);
      return;
    }
  dict_->emplace_back(key, std::move(v));
}

int64_t Value::length() const {
  switch (kind_) {
    case Kind::kString: return int64_t(code_points(*s_).size());
    case Kind::kList: return int64_t(list_->size());
    case Kind::kDict: return int64_t(dict_->size());
    default: throw TemplateError("object of type '" + type_name() + "' has no len()");
  }
}

List Value::items() const {
  switch (kind_) {
    case Kind::kUndefined: return {};
    case Kind::kList: return *list_;
    case Kind::kDict: {
      List keys;
      for (const auto& entry : *dict_) keys.emplace_back(entry.first);
      return keys;
    }
    case Kind::kString: {
      List chars;
      for (std::string& c : code_points(*s_)) chars.emplace_back(std::move(c));
      return chars;
    }
    default: throw TemplateError("'" + type_name() + "' object is not iterable");
  }
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kDict: return namespace_ ? "Namespace" : "dict";
    case Kind::kFunction: return "function";
  }
  return "";
}

bool Value::equal(const Value& a, const Value& b, int depth) {
  if (depth > kMaxNesting) throw TemplateError("a value nested more than 128 deep (or holding itself)");
  if (a.is_number() && b.is_number()) {
    if (a.kind_ == Value::Kind::kFloat || b.kind_ == Value::Kind::kFloat) return a.number() == b.number();
    return a.i_ == b.i_;
  }
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone: return true;
    case Value::Kind::kString: return *a.s_ == *b.s_;
    case Value::Kind::kList:
      if (a.list_->size() != b.list_->size()) return false;
      for (size_t i = 0; i < a.list_->size(); ++i)
        if (!equal((*a.list_)[i], (*b.list_)[i], depth + 1)) return false;
      return true;
    case Value::Kind::kDict: {
      if (a.dict_->size() != b.dict_->size()) return false;
      for (const auto& [key, value] : *a.dict_)
        if (b.get(key).is_undefined() || !equal(b.get(key), value, depth + 1)) return false;
      return true;
    }
    case Value::Kind::kFunction: return a.function_ == b.function_;
    default: return false;
  }
}

bool operator==(const Value& a, const Value& b) { return Value::equal(a, b, 0); }

int Value::compare(const Value& a, const Value& b, int depth) {
  if (depth > kMaxNesting) throw TemplateError("a value nested more than 128 deep (or holding itself)");
  if (a.is_number() && b.is_number()) return a.number() < b.number() ? -1 : a.number() > b.number() ? 1 : 0;
  if (a.is_string() && b.is_string()) return a.string().compare(b.string()) < 0 ? -1 : a.string() == b.string() ? 0 : 1;
  if (a.is_list() && b.is_list()) {
    for (size_t i = 0; i < a.list().size() && i < b.list().size(); ++i)
      if (int c = compare(a.list()[i], b.list()[i], depth + 1)) return c;
    return a.list().size() < b.list().size() ? -1 : a.list().size() > b.list().size() ? 1 : 0;
  }
  throw TemplateError("'<' is not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'");
}

}  // namespace tandem::jinja
