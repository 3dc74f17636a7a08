#pragma once
// Python's string methods as chat templates call them (str.strip, str.split, ...), and
// markupsafe's HTML escape: shared by the filters and the methods.
#include <cstdint>
#include <string>

#include "model/jinja/value.h"

namespace tandem::jinja {

/// str.strip / lstrip / rstrip: `chars` (a string) or whitespace, from the sides asked.
std::string strip(const std::string& s, const Value& chars, bool left, bool right);
/// str.lower, str.upper, str.title, str.capitalize (ASCII letters).
std::string lower(std::string s);
std::string upper(std::string s);
std::string title(std::string s);
std::string capitalize(const std::string& s);
/// str.replace(from, to, count), count < 0: all.
std::string replace(const std::string& s, const std::string& from, const std::string& to, int64_t count);
/// str.split(separator, max_splits): a list; an undefined or none separator splits on runs of whitespace.
Value split(const std::string& s, const Value& separator, int64_t max_splits);
/// str.startswith / str.endswith, with one affix or a list of them.
bool starts_or_ends(const std::string& s, const Value& affixes, bool start);
/// str.format: {} and {N} take positional arguments, {name} keyword ones; {{ and }} are braces.
std::string format(const std::string& s, const Arguments& args);
/// markupsafe's escape of & < > " '.
std::string escape_html(const std::string& s);

}  // namespace tandem::jinja
