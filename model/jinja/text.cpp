#include "model/jinja/text.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace tandem::jinja {
namespace {

const Value kUndefined;
const char* const kWhitespace = " \t\n\r\f\v";

}  // namespace

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

}  // namespace tandem::jinja
