#include "model/jinja/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "model/jinja/text.h"

namespace tandem::jinja {
namespace {

const Value kUndefined;

TemplateError unknown(const std::string& what, const std::string& name) {
  return TemplateError("the chat template uses the " + what + " '" + name + "', which tandem does not support");
}

std::string text_of(const Value& v) { return v.str(); }

Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  for (size_t at = 0; at <= path.size();) {
    const size_t dot = std::min(path.find('.', at), path.size());
    const std::string key = path.substr(at, dot - at);
    if (v.is_list() && !key.empty() && std::all_of(key.begin(), key.end(), ::isdigit)) {
      const size_t i = std::stoul(key);
      v = i < v.list().size() ? v.list()[i] : Value();
    } else {
      v = v.get(key);
    }
    at = dot + 1;
  }
  return v;
}

Value select(const Value& target, const Arguments& args, bool by_attribute, bool keep) {
  List out;
  if (!target.truthy()) return Value(std::move(out));  // jinja2 reads none (or nothing) as empty
  size_t first_test_arg = by_attribute ? 1 : 0;
  const std::string attribute = by_attribute ? args.get("attribute", 0, kUndefined).str() : "";
  const Value& test = args.get("test", first_test_arg, kUndefined);
  Arguments test_args;
  for (size_t i = first_test_arg + 1; i < args.positional.size(); ++i)
    test_args.positional.push_back(args.positional[i]);
  for (const Value& item : target.items()) {
    const Value v = by_attribute ? attribute_path(item, attribute) : item;
    const bool pass = test.is_undefined() ? v.truthy() : apply_test(test.str(), v, test_args);
    if (pass == keep) out.push_back(item);
  }
  return Value(std::move(out));
}

Value map_items(const Value& target, const Arguments& args) {
  List out;
  if (!target.truthy()) return Value(std::move(out));
  const Value& attribute = args.get("attribute", size_t(-1), kUndefined);
  if (!attribute.is_undefined()) {
    const Value& fallback = args.get("default", size_t(-1), kUndefined);
    for (const Value& item : target.items()) {
      Value v = attribute_path(item, attribute.str());
      out.push_back(v.is_undefined() ? fallback : v);
    }
    return Value(std::move(out));
  }
  if (args.positional.empty()) throw TemplateError("map needs a filter name or attribute=");
  Arguments rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keywords = args.keywords;
  for (const Value& item : target.items()) out.push_back(apply_filter(args.positional[0].str(), item, rest));
  return Value(std::move(out));
}

Value sort_items(const Value& target, const Arguments& args) {
  List items = target.items();
  const bool reverse = args.get("reverse", 0, kUndefined).truthy();
  const bool case_sensitive = args.get("case_sensitive", 1, kUndefined).truthy();
  const Value& attribute = args.get("attribute", 2, kUndefined);
  auto key = [&](const Value& v) {
    Value k = attribute.is_undefined() ? v : attribute_path(v, attribute.str());
    return k.is_string() && !case_sensitive ? Value(lower(k.string())) : k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? Value::compare(key(b), key(a)) < 0 : Value::compare(key(a), key(b)) < 0;
  });
  return Value(std::move(items));
}

Value indent(const std::string& s, const Arguments& args) {
  const Value& width = args.get("width", 0, Value(int64_t(4)));
  const std::string pad =
      width.is_string() ? width.string() : std::string(size_t(std::max<int64_t>(0, width.integer())), ' ');
  const bool first = args.get("first", 1, kUndefined).truthy();
  const bool blank = args.get("blank", 2, kUndefined).truthy();
  std::string out;
  size_t at = 0;
  for (bool first_line = true; at <= s.size(); first_line = false) {
    const size_t end = std::min(s.find('\n', at), s.size());
    const std::string line = s.substr(at, end - at);
    if ((!first_line || first) && (blank || !line.empty())) out += pad;
    out += line;
    if (end == s.size()) break;
    out += '\n';
    at = end + 1;
  }
  return Value(out);
}

Value round_number(const Value& v, const Arguments& args) {
  const int64_t precision = args.get("precision", 0, Value(int64_t(0))).integer();
  const std::string how = args.get("method", 1, Value("common")).str();
  const double scale = std::pow(10.0, double(precision));
  const double x = v.number() * scale;
  const double r = how == "ceil" ? std::ceil(x) : how == "floor" ? std::floor(x) : std::round(x);
  return Value(r / scale);
}

// str.format: {} and {N} take positional arguments, {name} keyword ones; {{ and }} are braces.
// Format specs ({:>8}) are not supported.

}  // namespace

Value apply_filter(const std::string& name, const Value& target, const Arguments& args) {
  if (name == "trim") return Value(strip(text_of(target), args.get("chars", 0, kUndefined), true, true));
  if (name == "tojson") {  // HF's: tojson(ensure_ascii=False, indent=None, separators=None, sort_keys=False)
    JsonStyle style;
    style.ensure_ascii = args.get("ensure_ascii", 0, kUndefined).truthy();
    const Value& indent_by = args.get("indent", 1, kUndefined);
    style.indent = indent_by.is_number() ? int(indent_by.integer()) : -1;
    const Value& separators = args.get("separators", 2, kUndefined);
    if (separators.is_list() && separators.list().size() == 2) {
      style.item_separator = separators.list()[0].str();
      style.key_separator = separators.list()[1].str();
    } else {
      style.item_separator = style.indent >= 0 ? "," : ", ";
    }
    style.sort_keys = args.get("sort_keys", 3, kUndefined).truthy();
    return Value(target.to_json(style));
  }
  if (name == "length" || name == "count") return Value(target.is_undefined() ? int64_t(0) : target.length());
  if (name == "string") return Value(text_of(target));
  if (name == "upper") return Value(upper(text_of(target)));
  if (name == "lower") return Value(lower(text_of(target)));
  if (name == "title") return Value(title(text_of(target)));
  if (name == "capitalize") return Value(capitalize(text_of(target)));
  if (name == "default" || name == "d") {
    const bool boolean = args.get("boolean", 1, kUndefined).truthy();
    const bool use_default = target.is_undefined() || (boolean && !target.truthy());
    return use_default ? args.get("default_value", 0, Value("")) : target;
  }
  if (name == "first" || name == "last") {
    const List items = target.items();
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const Value& attribute = args.get("attribute", 1, kUndefined);
    std::string out;
    bool first = true;
    for (const Value& item : target.items()) {
      out += (first ? "" : args.get("d", 0, Value("")).str()) +
             text_of(attribute.is_undefined() ? item : attribute_path(item, attribute.str()));
      first = false;
    }
    return Value(out);
  }
  if (name == "list") return Value(target.items());
  if (name == "items") {
    List pairs;
    if (target.is_dict())
      for (const auto& [key, value] : target.dict()) pairs.emplace_back(List{Value(key), value});
    return Value(std::move(pairs));
  }
  if (name == "reverse") {
    if (target.is_string()) {
      std::string out;
      const auto chars = code_points(target.string());
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value(out);
    }
    List items = target.items();
    std::reverse(items.begin(), items.end());
    return Value(std::move(items));
  }
  if (name == "replace")
    return Value(replace(text_of(target), args.get("old", 0, Value("")).str(), args.get("new", 1, Value("")).str(),
                         args.get("count", 2, Value(int64_t(-1))).integer()));
  if (name == "select" || name == "reject") return select(target, args, false, name == "select");
  if (name == "selectattr" || name == "rejectattr") return select(target, args, true, name == "selectattr");
  if (name == "map") return map_items(target, args);
  if (name == "sort") return sort_items(target, args);
  if (name == "unique") {
    List out;
    for (const Value& item : target.items())
      if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    return Value(std::move(out));
  }
  if (name == "int") {
    if (target.is_string()) try {
        return Value(int64_t(std::stoll(strip(target.string(), Value(), true, true))));
      } catch (const std::exception&) { return args.get("default", 0, Value(int64_t(0))); }
    return target.is_number() ? Value(target.integer()) : args.get("default", 0, Value(int64_t(0)));
  }
  if (name == "float") {
    if (target.is_string()) try {
        return Value(std::stod(target.string()));
      } catch (const std::exception&) { return args.get("default", 0, Value(0.0)); }
    return target.is_number() ? Value(target.number()) : args.get("default", 0, Value(0.0));
  }
  if (name == "abs")
    return target.kind() == Value::Kind::kFloat
               ? Value(std::fabs(target.number()))
               : Value(target.integer() == INT64_MIN ? INT64_MAX : int64_t(std::llabs(target.integer())));
  if (name == "round") return round_number(target, args);
  if (name == "sum") {
    Value total(int64_t(0));
    for (const Value& item : target.items())
      total = total.kind() == Value::Kind::kFloat || item.kind() == Value::Kind::kFloat
                  ? Value(total.number() + item.number())
                  : Value(total.integer() + item.integer());
    return total;
  }
  if (name == "min" || name == "max") {
    const List items = target.items();
    if (items.empty()) return Value();
    return *std::min_element(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      return name == "min" ? Value::compare(a, b) < 0 : Value::compare(a, b) > 0;
    });
  }
  if (name == "indent") return indent(text_of(target), args);
  if (name == "wordcount") return Value(int64_t(split(text_of(target), Value(), -1).list().size()));
  if (name == "escape" || name == "e") return target.is_markup() ? target : Value::markup(escape_html(text_of(target)));
  if (name == "safe") return Value::markup(text_of(target));
  if (name == "attr") return target.get(args.get("name", 0, kUndefined).str());
  if (name == "dictsort") {
    List pairs = apply_filter("items", target, {}).list();
    std::stable_sort(pairs.begin(), pairs.end(),
                     [](const Value& a, const Value& b) { return Value::compare(a.list()[0], b.list()[0]) < 0; });
    return Value(std::move(pairs));
  }
  throw unknown("filter", name);
}

bool apply_test(const std::string& name, const Value& v, const Arguments& args) {
  const Value& arg = args.get("value", 0, kUndefined);
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.kind() == K::kInt;
  if (name == "float") return v.kind() == K::kFloat;
  if (name == "boolean") return v.kind() == K::kBool;
  if (name == "true") return v.kind() == K::kBool && v.boolean();
  if (name == "false") return v.kind() == K::kBool && !v.boolean();
  if (name == "callable") return v.kind() == K::kFunction;
  if (name == "lower") return v.is_string() && lower(v.string()) == v.string();
  if (name == "upper") return v.is_string() && upper(v.string()) == v.string();
  if (name == "odd") return v.integer() % 2 != 0;
  if (name == "even") return v.integer() % 2 == 0;
  if (name == "divisibleby") return arg.integer() != 0 && v.integer() % arg.integer() == 0;
  if (name == "eq" || name == "equalto" || name == "==") return v == arg;
  if (name == "ne" || name == "!=") return v != arg;
  if (name == "lt" || name == "lessthan" || name == "<") return Value::compare(v, arg) < 0;
  if (name == "le" || name == "<=") return Value::compare(v, arg) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return Value::compare(v, arg) > 0;
  if (name == "ge" || name == ">=") return Value::compare(v, arg) >= 0;
  if (name == "sameas") return v.kind() == arg.kind() && (v.is_none() || v.is_undefined() || v == arg);
  if (name == "in") {
    for (const Value& item : arg.items())
      if (item == v) return true;
    return arg.is_string() && v.is_string() && arg.string().find(v.string()) != std::string::npos;
  }
  throw unknown("test", name);
}

}  // namespace tandem::jinja
