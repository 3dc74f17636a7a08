// The Python methods chat templates call on strings and dicts, and the template globals.
#include <algorithm>
#include <cctype>
#include <ctime>

#include "model/jinja/builtins.h"
#include "model/jinja/text.h"

namespace tandem::jinja {
namespace {

constexpr int64_t kMaxRange = 1 << 20;  // range() beyond this is a template gone wrong
const Value kUndefined;

}  // namespace

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
