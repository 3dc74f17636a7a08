#pragma once
// Splits a Jinja template into text, {{ output }} and {% statement %} pieces, applying the
// whitespace control Hugging Face renders chat templates with: trim_blocks (a newline right
// after a block tag goes), lstrip_blocks (spaces before a block tag on its own line go), and
// the tags' own '-' (all whitespace on that side goes) and '+' (lstrip_blocks off).
#include <string>
#include <vector>

namespace tandem::jinja {

struct Token {
  enum class Kind { kName, kString, kInteger, kFloat, kOperator };
  Kind kind;
  std::string text;  // a string literal's value, unescaped
};

struct Piece {
  enum class Kind { kText, kOutput, kStatement };
  Kind kind;
  std::string text;           // kText
  std::vector<Token> tokens;  // kOutput, kStatement
  int line = 1;
};

/// Throws TemplateError on an unclosed tag or string, or a character no expression has.
std::vector<Piece> lex(const std::string& source);

}  // namespace tandem::jinja
