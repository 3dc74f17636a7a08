#include "model/jinja/lexer.h"

#include <cctype>
#include <cstdint>

#include "model/jinja/value.h"
#include "model/unicode.h"

namespace tandem::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string rstrip(const std::string& s) {
  size_t end = s.size();
  while (end > 0 && is_space(s[end - 1])) --end;
  return s.substr(0, end);
}

class Lexer {
 public:
  explicit Lexer(const std::string& source) : src_(source) {}

  std::vector<Piece> run() {
    bool line_starting = true, strip_leading = false;
    size_t pos = 0;
    while (pos < src_.size()) {
      const size_t open = next_tag(pos);
      std::string text = src_.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
      if (strip_leading) {
        size_t first = 0;
        while (first < text.size() && is_space(text[first])) ++first;
        text.erase(0, first);
      }
      if (open == std::string::npos) {
        add_text(text, pos);
        break;
      }
      const char kind = src_[open + 1];
      const char modifier = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (modifier == '-') {
        text = rstrip(text);
      } else if (kind != '{' && modifier != '+') {
        // lstrip_blocks: spaces and tabs alone between the line's start and the tag go.
        const size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        if ((line_start > 0 || line_starting) && text.find_first_not_of(" \t", line_start) == std::string::npos)
          text.erase(line_start);
      }
      add_text(text, pos);
      size_t after;
      bool strip_after;
      const int line = line_at(open);
      size_t inner = open + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
      if (kind == '#') {
        const size_t close = src_.find("#}", inner);
        if (close == std::string::npos) throw error(line, "a comment is never closed with '#}'");
        strip_after = close > inner && src_[close - 1] == '-';
        after = close + 2;
      } else {
        Piece piece{kind == '{' ? Piece::Kind::kOutput : Piece::Kind::kStatement, "", {}, line};
        after = tokenize(inner, kind == '{' ? '}' : '%', piece.tokens, strip_after, line);
        if (piece.tokens.empty()) throw error(line, "an empty tag");
        const bool raw = piece.kind == Piece::Kind::kStatement && piece.tokens.size() == 1 &&
                         piece.tokens[0].kind == Token::Kind::kName && piece.tokens[0].text == "raw";
        if (raw) {
          after = raw_block(after, strip_after, line);
        } else {
          pieces_.push_back(std::move(piece));
        }
      }
      // trim_blocks: a block tag's (or comment's) first newline after it goes.
      if (!strip_after && kind != '{' && after < src_.size() && src_[after] == '\n') ++after;
      strip_leading = strip_after;
      line_starting = src_[after - 1] == '\n';
      pos = after;
    }
    return std::move(pieces_);
  }

 private:
  TemplateError error(int line, const std::string& what) const {
    return TemplateError("chat template line " + std::to_string(line) + ": " + what);
  }

  int line_at(size_t pos) const {
    int line = 1;
    for (size_t i = 0; i < pos && i < src_.size(); ++i) line += src_[i] == '\n';
    return line;
  }

  size_t next_tag(size_t from) const {
    for (size_t at = src_.find('{', from); at != std::string::npos; at = src_.find('{', at + 1))
      if (at + 1 < src_.size() && (src_[at + 1] == '{' || src_[at + 1] == '%' || src_[at + 1] == '#')) return at;
    return std::string::npos;
  }

  void add_text(const std::string& text, size_t pos) {
    if (!text.empty()) pieces_.push_back({Piece::Kind::kText, text, {}, line_at(pos)});
  }

  // {% raw %} ... {% endraw %}: the text between, as it is.
  size_t raw_block(size_t from, bool strip_leading, int line) {
    for (size_t at = src_.find("{%", from); at != std::string::npos; at = src_.find("{%", at + 2)) {
      size_t p = at + 2 + (src_[at + 2] == '-' || src_[at + 2] == '+' ? 1 : 0);
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < src_.size() && is_space(src_[p])) ++p;
      const bool strip_end = src_.compare(p, 1, "-") == 0;
      if (src_.compare(p + (strip_end ? 1 : 0), 2, "%}") != 0) continue;
      std::string text = src_.substr(from, at - from);
      if (strip_leading)
        text.erase(0, text.find_first_not_of(" \t\r\n\f\v") == std::string::npos
                          ? text.size()
                          : text.find_first_not_of(" \t\r\n\f\v"));
      if (src_[at + 2] == '-') text = rstrip(text);
      add_text(text, from);
      return p + (strip_end ? 1 : 0) + 2;
    }
    throw error(line, "{% raw %} is never closed with {% endraw %}");
  }

  // Reads an expression's tokens up to the tag's end ('}}' or '%}', maybe '-' first);
  // returns where the text after the tag starts.
  size_t tokenize(size_t p, char closer, std::vector<Token>& tokens, bool& strip_after, int line) {
    static const char* const kLongOperators[] = {"**", "//", "==", "!=", "<=", ">="};
    while (true) {
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (p >= src_.size()) throw error(line, std::string("a tag is never closed with '") + closer + "}'");
      const char c = src_[p];
      if (c == '-' && p + 2 < src_.size() && src_[p + 1] == closer && src_[p + 2] == '}') {
        strip_after = true;
        return p + 3;
      }
      if (c == closer && p + 1 < src_.size() && src_[p + 1] == '}') {
        strip_after = false;
        return p + 2;
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t end = p;
        while (end < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[end])) || src_[end] == '_')) ++end;
        tokens.push_back({Token::Kind::kName, src_.substr(p, end - p)});
        p = end;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        size_t end = p;
        while (end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]))) ++end;
        bool fraction =
            end + 1 < src_.size() && src_[end] == '.' && std::isdigit(static_cast<unsigned char>(src_[end + 1]));
        if (fraction)
          for (++end; end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]));) ++end;
        // An exponent: 1e20, 2.5E-3.
        size_t exp = end + 1 < src_.size() && (src_[end] == 'e' || src_[end] == 'E') ? end + 1 : 0;
        if (exp && exp < src_.size() && (src_[exp] == '+' || src_[exp] == '-')) ++exp;
        if (exp && exp < src_.size() && std::isdigit(static_cast<unsigned char>(src_[exp]))) {
          for (end = exp; end < src_.size() && std::isdigit(static_cast<unsigned char>(src_[end]));) ++end;
          fraction = true;
        }
        tokens.push_back({fraction ? Token::Kind::kFloat : Token::Kind::kInteger, src_.substr(p, end - p)});
        p = end;
      } else if (c == '\'' || c == '"') {
        std::string value;
        p = string_literal(p, value, line);
        tokens.push_back({Token::Kind::kString, std::move(value)});
      } else {
        std::string op(1, c);
        for (const char* longer : kLongOperators)
          if (src_.compare(p, 2, longer) == 0) op = longer;
        if (op.size() == 1 && std::string("+-*/%~|.,:()[]{}<>=").find(c) == std::string::npos)
          throw error(line, std::string("unexpected character '") + c + "'");
        tokens.push_back({Token::Kind::kOperator, op});
        p += op.size();
      }
    }
  }

  size_t string_literal(size_t p, std::string& value, int line) const {
    const char quote = src_[p++];
    while (p < src_.size() && src_[p] != quote) {
      if (src_[p] != '\\' || p + 1 >= src_.size()) {
        value += src_[p++];
        continue;
      }
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case '0': value += '\0'; break;
        case '\\':
        case '\'':
        case '"': value += e; break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + digits > src_.size()) throw error(line, "a short \\" + std::string(1, e) + " escape");
          append_utf8(value, uint32_t(std::stoul(src_.substr(p, digits), nullptr, 16)));
          p += digits;
          break;
        }
        default: value += '\\', value += e;
      }
    }
    if (p >= src_.size()) throw error(line, "a string is never closed");
    return p + 1;
  }

  const std::string& src_;
  std::vector<Piece> pieces_;
};

}  // namespace

std::vector<Piece> lex(const std::string& source) { return Lexer(source).run(); }

}  // namespace tandem::jinja
