#include "tokenizer/pretokenizer.h"

#include "tokenizer/unicode_class.h"

namespace gptcore {

namespace {

// Length of the contraction ('s 't 're 've 'm 'll 'd, lower case only) at s[pos], or 0.
size_t contraction_length(const unsigned char* s, size_t n, size_t pos) {
    if (s[pos] != '\'' || pos + 1 >= n) return 0;
    const unsigned char a = s[pos + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= n) return 0;
    const unsigned char b = s[pos + 2];
    return ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) ? 3 : 0;
}

}  // namespace

size_t pretoken_end(const char* text, size_t n, size_t pos) {
    const auto* s = reinterpret_cast<const unsigned char*>(text);
    if (size_t len = contraction_length(s, n, pos)) return pos + len;

    const size_t start = pos;
    Utf8Char c = utf8_char_at(s, n, pos);
    if (s[pos] == ' ' && pos + 1 < n) {  // ` ?` before a run of letters, numbers or others
        const Utf8Char next = utf8_char_at(s, n, pos + 1);
        if (next.cls != CharClass::space) {
            pos += 1;
            c = next;
        }
    }
    if (c.cls != CharClass::space) {  // \p{L}+, \p{N}+ or [^\s\p{L}\p{N}]+
        const CharClass run = c.cls;
        pos += c.len;
        while (pos < n) {
            const Utf8Char d = utf8_char_at(s, n, pos);
            if (d.cls != run) break;
            pos += d.len;
        }
        return pos;
    }
    // A whitespace run [start, end) whose last character starts at `last`. \s+(?!\S) takes the whole run at the
    // end of the text and otherwise all but its last character, which then joins the next piece (` ?\p{L}+`...)
    // or, alone, is matched by the final \s+.
    size_t end = start, last = start;
    while (end < n) {
        const Utf8Char d = utf8_char_at(s, n, end);
        if (d.cls != CharClass::space) break;
        last = end;
        end += d.len;
    }
    return (end == n || last == start) ? end : last;
}

}  // namespace gptcore
