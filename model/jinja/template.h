#pragma once
// A Jinja template, parsed once and rendered as Hugging Face renders chat templates (jinja2
// with trim_blocks, lstrip_blocks and loop controls; HF's tojson, raise_exception and
// strftime_now), so that a GGUF's own `tokenizer.chat_template` gives the prompt its model
// was trained on. An interpreter of the subset real templates use, written for tandem:
// neither Debian nor PyPI carries a maintained C++ Jinja.
#include <string>

#include "model/jinja/ast.h"
#include "model/jinja/value.h"

namespace tandem::jinja {

class Template {
 public:
  /// Throws TemplateError, naming the line, for a template it cannot parse.
  explicit Template(const std::string& source);

  /// The template's output for `context` (the variables a template sees besides the
  /// globals). Throws TemplateError for what cannot be rendered, and with the template's
  /// own words for raise_exception().
  std::string render(const Dict& context) const;

 private:
  Body body_;
};

}  // namespace tandem::jinja
