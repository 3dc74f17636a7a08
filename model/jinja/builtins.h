#pragma once
// Jinja's filters, tests and globals, and the Python methods of strings and dicts that chat
// templates call: the subset real templates use (docs/serving.md lists it). Each behaves
// as jinja2's or Python's does; an unknown name is a TemplateError that names it.
#include <string>

#include "model/jinja/value.h"

namespace tandem::jinja {

/// `target | name(args)`.
Value apply_filter(const std::string& name, const Value& target, const Arguments& args);

/// `target is name(args)`.
bool apply_test(const std::string& name, const Value& target, const Arguments& args);

/// `target.name` as a bound method (str.strip, dict.items, ...), or undefined if there is none.
Value method(const Value& target, const std::string& name);

/// range, namespace, dict, raise_exception and strftime_now (HF's two template globals).
Dict globals();

}  // namespace tandem::jinja
