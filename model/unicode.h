#pragma once
// UTF-8 decoding and the Unicode character classes that pre-tokenizers use.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem {

/// One decoded character: its code point and where its bytes sit in the text.
/// A byte that starts no valid UTF-8 sequence becomes a character of its own (code point 0xFFFD).
struct Utf8Char {
  uint32_t cp;
  uint32_t offset;
  uint32_t length;
};

/// Splits text into characters.
std::vector<Utf8Char> utf8_chars(std::string_view text);

/// Length of a complete UTF-8 sequence starting with `lead`, or 0 if `lead` cannot start one.
int utf8_sequence_length(uint8_t lead);

/// Appends the UTF-8 encoding of `cp`.
void append_utf8(std::string& out, uint32_t cp);

/// \p{L}: any letter category.
bool is_letter(uint32_t cp);
/// \p{N}: any number category.
bool is_number(uint32_t cp);
/// \s: the White_Space property.
bool is_whitespace(uint32_t cp);

}  // namespace tandem
