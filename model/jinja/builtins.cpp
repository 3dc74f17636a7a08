#include "model/jinja/builtins.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

namespace tandem::jinja {
namespace {

constexpr int64_t kMaxRange = 1 << 20;  // range() beyond this is a template gone wrong
const Value kUndefined;
const char* const kWhitespace = " \t\n\r\f\v";

TemplateError unknown(const std::string& what, const std::string& name) {
  return TemplateError("the chat template uses the " + what + " '" + name + "', which tandem does not support");
}

std::string text_of(const Value& v) { return v.str(); }

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  const std::string set = chars.is_string() ? chars.string() : kWhitespace;
  size_t begin = 0, end = s.size();
  if (left) begin = s.find_first_not_of(set) == std::string::npos ? s.size() : s.find_first_not_of(set);
  if (right) end = s.find_last_not_of(set) == std::string::npos ? begin : s.find_last_not_of(set) + 1;
  return begin >= end ? "" : s.substr(begin, end - begin);
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string title(std::string s) {
  bool after_letter = false;
  for (char& c : s) {
    const bool letter = std::isalpha(static_cast<unsigned char>(c));
    c = char(letter && !after_letter ? std::toupper(static_cast<unsigned char>(c))
                                     : std::tolower(static_cast<unsigned char>(c)));
    after_letter = letter;
  }
  return s;
}
std::string capitalize(const std::string& s) { return s.empty() ? s : upper(s.substr(0, 1)) + lower(s.substr(1)); }

std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  std::string out;
  size_t at = 0;
  for (int64_t done = 0; count < 0 || done < count; ++done) {
    const size_t next = from.empty() ? (at <= s.size() ? at : std::string::npos) : s.find(from, at);
    if (next == std::string::npos) break;
    out += s.substr(at, next - at) + to;
    if (from.empty()) {
      if (next < s.size()) out += s[next];
      at = next + 1;
    } else {
      at = next + from.size();
    }
  }
  return at <= s.size() ? out + s.substr(at) : out;
}

Value split(const std::string& s, const Value& separator, int64_t max_splits) {
  List parts;
  if (!separator.is_string()) {  // runs of whitespace, no empty parts
    size_t at = s.find_first_not_of(kWhitespace);
    while (at != std::string::npos) {
      if (max_splits >= 0 && int64_t(parts.size()) == max_splits) {
        parts.emplace_back(strip(s.substr(at), Value(), false, true));
        break;
      }
      const size_t end = s.find_first_of(kWhitespace, at);
      parts.emplace_back(s.substr(at, end == std::string::npos ? std::string::npos : end - at));
      at = end == std::string::npos ? end : s.find_first_not_of(kWhitespace, end);
    }
    return Value(std::move(parts));
  }
  const std::string& sep = separator.string();
  if (sep.empty()) throw TemplateError("empty separator");
  size_t at = 0;
  for (size_t next;
       (next = s.find(sep, at)) != std::string::npos && (max_splits < 0 || int64_t(parts.size()) < max_splits);
       at = next + sep.size())
    parts.emplace_back(s.substr(at, next - at));
  parts.emplace_back(s.substr(at));
  return Value(std::move(parts));
}

bool starts_or_ends(const std::string& s, const Value& affixes, bool start) {
  for (const Value& a : affixes.is_list() ? affixes.list() : List{affixes}) {
    const std::string& x = a.string();
    if (x.size() <= s.size() && s.compare(start ? 0 : s.size() - x.size(), x.size(), x) == 0) return true;
  }
  return false;
}

// x.name for a dict-or-namespace item (jinja2's attribute= arguments, which may be dotted).
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

}  // namespace

std::string escape_html(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// select/reject/selectattr/rejectattr: items whose (attribute's) test passes, or fails.
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
std::string format(const std::string& s, const Arguments& args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((s[i] == '{' || s[i] == '}') && i + 1 < s.size() && s[i + 1] == s[i]) {
      out += s[i++];
      continue;
    }
    if (s[i] != '{') {
      out += s[i];
      continue;
    }
    const size_t close = s.find('}', i);
    if (close == std::string::npos) throw TemplateError("str.format: a '{' is never closed");
    const std::string field = s.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!") != std::string::npos)
      throw TemplateError("str.format: format specs are not supported");
    const bool positional = field.empty() || std::all_of(field.begin(), field.end(), ::isdigit);
    const size_t index = field.empty() ? next++ : positional ? std::stoul(field) : 0;
    const Value& v = positional ? args.get("", index, kUndefined) : args.get(field, size_t(-1), kUndefined);
    if (v.is_undefined()) throw TemplateError("str.format: no argument for {" + field + "}");
    out += v.str();
    i = close;
  }
  return out;
}

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
    return target.kind() == Value::Kind::kFloat ? Value(std::fabs(target.number()))
                                                : Value(int64_t(std::llabs(target.integer())));
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

Value method(const Value& target, const std::string& name) {
  if (target.is_dict() && !target.is_namespace()) {
    if (name == "items")
      return Value::function([target](const Arguments&) { return apply_filter("items", target, {}); });
    if (name == "keys") return Value::function([target](const Arguments&) { return Value(target.items()); });
    if (name == "values")
      return Value::function([target](const Arguments&) {
        List values;
        for (const auto& entry : target.dict()) values.push_back(entry.second);
        return Value(std::move(values));
      });
    if (name == "get")
      return Value::function([target](const Arguments& a) {
        const Value v = target.get(a.get("key", 0, kUndefined).str());
        return v.is_undefined() ? a.get("default", 1, Value::none()) : v;
      });
    return Value();
  }
  if (!target.is_string()) return Value();
  const std::string s = target.string();
  auto str_method = [](auto body) { return Value::function(body); };
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return str_method([s, name](const Arguments& a) {
      return Value(strip(s, a.get("chars", 0, kUndefined), name != "rstrip", name != "lstrip"));
    });
  if (name == "split")
    return str_method([s](const Arguments& a) {
      const Value& sep = a.get("sep", 0, kUndefined);
      return split(s, sep.is_none() ? Value() : sep, a.get("maxsplit", 1, Value(int64_t(-1))).integer());
    });
  if (name == "startswith" || name == "endswith")
    return str_method([s, name](const Arguments& a) {
      return Value(starts_or_ends(s, a.get("prefix", 0, Value("")), name == "startswith"));
    });
  if (name == "upper") return str_method([s](const Arguments&) { return Value(upper(s)); });
  if (name == "lower") return str_method([s](const Arguments&) { return Value(lower(s)); });
  if (name == "title") return str_method([s](const Arguments&) { return Value(title(s)); });
  if (name == "capitalize") return str_method([s](const Arguments&) { return Value(capitalize(s)); });
  if (name == "replace")
    return str_method([s](const Arguments& a) {
      return Value(replace(s, a.get("old", 0, Value("")).str(), a.get("new", 1, Value("")).str(),
                           a.get("count", 2, Value(int64_t(-1))).integer()));
    });
  if (name == "find" || name == "rfind")
    return str_method([s, name](const Arguments& a) {
      const std::string what = a.get("sub", 0, Value("")).str();
      const size_t at = name == "find" ? s.find(what) : s.rfind(what);
      return Value(at == std::string::npos ? int64_t(-1) : int64_t(code_points(s.substr(0, at)).size()));
    });
  if (name == "count")
    return str_method([s](const Arguments& a) {
      const std::string what = a.get("sub", 0, Value("")).str();
      int64_t n = 0;
      for (size_t at = s.find(what); !what.empty() && at != std::string::npos; at = s.find(what, at + what.size())) ++n;
      return Value(n);
    });
  if (name == "join")
    return str_method([s](const Arguments& a) {
      std::string out;
      bool first = true;
      for (const Value& item : a.get("iterable", 0, kUndefined).items()) {
        out += (first ? "" : s) + item.str();
        first = false;
      }
      return Value(out);
    });
  if (name == "format") return str_method([s](const Arguments& a) { return Value(format(s, a)); });
  if (name == "isdigit" || name == "isalpha" || name == "isspace")
    return str_method([s, name](const Arguments&) {
      auto is = [&](char c) {
        const auto u = static_cast<unsigned char>(c);
        return name == "isdigit"   ? std::isdigit(u) != 0
               : name == "isalpha" ? std::isalpha(u) != 0
                                   : std::isspace(u) != 0;
      };
      return Value(!s.empty() && std::all_of(s.begin(), s.end(), is));
    });
  return Value();
}

Dict globals() {
  Dict g;
  g.emplace_back("range", Value::function([](const Arguments& a) {
                   int64_t start = 0, stop = 0, step = 1;
                   if (a.positional.size() == 1) {
                     stop = a.positional[0].integer();
                   } else if (a.positional.size() >= 2) {
                     start = a.positional[0].integer();
                     stop = a.positional[1].integer();
                     if (a.positional.size() > 2) step = a.positional[2].integer();
                   }
                   if (step == 0) throw TemplateError("range() arg 3 must not be zero");
                   List out;
                   for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                     if (int64_t(out.size()) >= kMaxRange) throw TemplateError("range() of more than 2^20 numbers");
                     out.emplace_back(i);
                   }
                   return Value(std::move(out));
                 }));
  g.emplace_back("namespace", Value::function([](const Arguments& a) {
                   Dict d;
                   if (!a.positional.empty() && a.positional[0].is_dict()) d = a.positional[0].dict();
                   for (const auto& kw : a.keywords) d.push_back(kw);
                   return Value::name_space(std::move(d));
                 }));
  g.emplace_back("dict",
                 Value::function([](const Arguments& a) { return Value(Dict(a.keywords.begin(), a.keywords.end())); }));
  g.emplace_back("raise_exception", Value::function([](const Arguments& a) -> Value {
                   throw TemplateError(a.get("message", 0, Value("raise_exception")).str());
                 }));
  g.emplace_back("strftime_now", Value::function([](const Arguments& a) {
                   const std::time_t now = std::time(nullptr);
                   std::tm local{};
                   localtime_r(&now, &local);
                   char buffer[256];
                   const size_t n =
                       std::strftime(buffer, sizeof buffer, a.get("format", 0, Value("")).str().c_str(), &local);
                   return Value(std::string(buffer, n));
                 }));
  return g;
}

}  // namespace tandem::jinja
