// Character classes of GPT-2's pre-tokenizer pattern, \p{L}, \p{N} and \s, and UTF-8 decoding.
// The class table is generated at build time by gen_unicode_class.py (docs/tokenizer.md explains its source).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gptcore {

enum class CharClass : uint8_t { other = 0, letter = 1, number = 2, space = 3 };

extern const uint16_t* const char_class_block;  // (0x1100,) row index per 256 code points
extern const uint8_t* const char_class_row;     // (rows, 256) classes

inline CharClass char_class(uint32_t cp) {
    return static_cast<CharClass>(char_class_row[char_class_block[cp >> 8] * 256 + (cp & 255)]);
}

// One UTF-8 character of s[i, n): its class and its length in bytes. A byte that does not start a complete
// UTF-8 sequence counts as a one-byte `other` (text from a Python str is always valid).
struct Utf8Char {
    CharClass cls;
    uint32_t len;
};

inline Utf8Char utf8_char_at(const unsigned char* s, size_t n, size_t i) {
    const uint32_t c = s[i];
    if (c < 0x80) return {char_class(c), 1};
    const uint32_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i + len > n) return {CharClass::other, 1};
    uint32_t cp = c & (0x7F >> len);
    for (uint32_t k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    return {cp < 0x110000 ? char_class(cp) : CharClass::other, len};
}

}  // namespace gptcore
