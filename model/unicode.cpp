#include "model/unicode.h"

#ifndef TANDEM_NO_ICU
#include <unicode/uchar.h>
#endif

namespace tandem {

int utf8_sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return lead >= 0xc2 ? 2 : 0;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return lead <= 0xf4 ? 4 : 0;
  return 0;
}

std::vector<Utf8Char> utf8_chars(std::string_view text) {
  std::vector<Utf8Char> chars;
  chars.reserve(text.size());
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0, n = text.size();
  while (i < n) {
    int len = utf8_sequence_length(s[i]);
    uint32_t cp = len == 1 ? s[i] : len == 2 ? s[i] & 0x1f : len == 3 ? s[i] & 0x0f : s[i] & 0x07;
    bool valid = len > 0 && i + size_t(len) <= n;
    for (int k = 1; valid && k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) valid = false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (valid &&
        ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))))
      valid = false;
    if (!valid) {
      chars.push_back({0xfffd, uint32_t(i), 1});
      ++i;
    } else {
      chars.push_back({cp, uint32_t(i), uint32_t(len)});
      i += size_t(len);
    }
  }
  return chars;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

#ifndef TANDEM_NO_ICU
bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return (U_GET_GC_MASK(UChar32(cp)) & U_GC_L_MASK) != 0;
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return (U_GET_GC_MASK(UChar32(cp)) & U_GC_N_MASK) != 0;
}

bool is_whitespace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0d);
  return u_isUWhiteSpace(UChar32(cp));
}
#else
// The lean GPU check build has no ICU: ASCII exactly, and past it every code point that is
// not Unicode white space counts as a letter. Its binaries feed token ids, never text.
bool is_whitespace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0d);
  return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}
bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return !is_whitespace(cp);
}
bool is_number(uint32_t cp) { return cp >= '0' && cp <= '9'; }
#endif

}  // namespace tandem
