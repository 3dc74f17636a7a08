#pragma once
// Parses a Jinja template into statements (model/jinja/ast.h).
#include <string>

#include "model/jinja/ast.h"

namespace tandem::jinja {

/// Throws TemplateError, naming the line, for what it cannot parse.
Body parse(const std::string& source);

}  // namespace tandem::jinja
