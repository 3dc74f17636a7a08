// Hand-written matchers for the pre-tokenizer regular expressions. Each
// `match_*` returns where the regex's first matching alternative ends when it
// starts at character i; alternatives are tried in the regex's order.
#include "model/pretokenizer.h"

#include "model/unicode.h"

namespace tandem {
namespace {

using Chars = std::vector<Utf8Char>;

bool is_newline(uint32_t c) { return c == '\r' || c == '\n'; }
// [^\s\p{L}\p{N}]
bool is_other(uint32_t c) { return !is_whitespace(c) && !is_letter(c) && !is_number(c); }

size_t run(const Chars& s, size_t i, bool (*pred)(uint32_t)) {
  while (i < s.size() && pred(s[i].cp)) ++i;
  return i;
}

uint32_t lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive; returns the end or 0.
size_t match_contraction(const Chars& s, size_t i, bool ignore_case) {
  if (s[i].cp != '\'' || i + 1 >= s.size()) return 0;
  auto at = [&](size_t k) -> uint32_t {
    if (k >= s.size()) return 0;
    return ignore_case ? lower_ascii(s[k].cp) : s[k].cp;
  };
  uint32_t a = at(i + 1), b = at(i + 2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return 0;
}

// \s+(?!\S) then \s+ : whitespace not followed by non-space, else the whole run.
size_t match_trailing_space(const Chars& s, size_t i) {
  size_t j = run(s, i, is_whitespace);
  if (j == s.size() || j - 1 == i) return j;
  return j - 1;  // leave the last space to prefix the next word
}

size_t match_gpt2(const Chars& s, size_t i) {
  if (size_t e = match_contraction(s, i, false)) return e;
  bool space = s[i].cp == ' ' && i + 1 < s.size();
  size_t k = space ? i + 1 : i;  // after the optional leading space
  if (is_letter(s[i].cp)) return run(s, i, is_letter);
  if (space && is_letter(s[k].cp)) return run(s, k, is_letter);
  if (is_number(s[i].cp)) return run(s, i, is_number);
  if (space && is_number(s[k].cp)) return run(s, k, is_number);
  if (is_other(s[i].cp)) return run(s, i, is_other);
  if (space && is_other(s[k].cp)) return run(s, k, is_other);
  return match_trailing_space(s, i);
}

size_t match_qwen2(const Chars& s, size_t i) {
  if (size_t e = match_contraction(s, i, true)) return e;
  uint32_t c = s[i].cp;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_letter(c)) return run(s, i, is_letter);
  if (!is_newline(c) && !is_number(c) && i + 1 < s.size() && is_letter(s[i + 1].cp)) return run(s, i + 1, is_letter);
  // \p{N}
  if (is_number(c)) return i + 1;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t k = (c == ' ' && i + 1 < s.size() && is_other(s[i + 1].cp)) ? i + 1 : i;
  if (is_other(s[k].cp)) return run(s, run(s, k, is_other), is_newline);
  // \s*[\r\n]+ : whitespace up to and including its last newline
  size_t j = run(s, i, is_whitespace);
  for (size_t m = j; m > i; --m)
    if (is_newline(s[m - 1].cp)) return m;
  return match_trailing_space(s, i);
}

void split(const Chars& chars, std::string_view text, size_t (*match)(const Chars&, size_t),
           std::vector<std::string_view>& out) {
  for (size_t i = 0; i < chars.size();) {
    size_t end = match(chars, i);
    if (end <= i) end = i + 1;  // never loops: every character belongs to some piece
    size_t begin_byte = chars[i].offset;
    size_t end_byte = end < chars.size() ? chars[end].offset : text.size();
    out.push_back(text.substr(begin_byte, end_byte - begin_byte));
    i = end;
  }
}

}  // namespace

PreTokenizer pretokenizer_from_name(std::string_view name, bool* known) {
  if (known) *known = true;
  if (name == "qwen2" || name == "deepseek-r1-qwen") return PreTokenizer::Qwen2;
  if (name == "smollm" || name == "starcoder" || name == "refact" || name == "codeshell") return PreTokenizer::SmolLm;
  if (name == "gpt2" || name == "default") return PreTokenizer::Gpt2;
  if (known) *known = false;
  return PreTokenizer::Gpt2;
}

std::vector<std::string_view> pretokenize(PreTokenizer kind, std::string_view text) {
  std::vector<std::string_view> pieces;
  Chars chars = utf8_chars(text);
  switch (kind) {
    case PreTokenizer::Qwen2: split(chars, text, match_qwen2, pieces); break;
    case PreTokenizer::Gpt2: split(chars, text, match_gpt2, pieces); break;
    case PreTokenizer::SmolLm: {
      // Each digit is a piece of its own; the text between digits gets the GPT-2 split.
      size_t i = 0;
      while (i < chars.size()) {
        size_t j = i;
        while (j < chars.size() && !is_number(chars[j].cp)) ++j;
        if (j > i) {
          size_t b = chars[i].offset, e = j < chars.size() ? chars[j].offset : text.size();
          std::string_view part = text.substr(b, e - b);
          split(utf8_chars(part), part, match_gpt2, pieces);
        }
        if (j < chars.size()) pieces.push_back(text.substr(chars[j].offset, chars[j].length));
        i = j + 1;
      }
      break;
    }
  }
  return pieces;
}

}  // namespace tandem
