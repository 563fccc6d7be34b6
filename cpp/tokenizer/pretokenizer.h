// GPT-2's pre-tokenizer: the pieces that BPE encodes one at a time. A hand-written matcher for the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// over UTF-8 bytes, with the leftmost-alternative, greedy semantics of a backtracking regex engine.
// The reference is the pattern itself, run by Python's `regex` module in tests/test_tokenizer.py.
#pragma once

#include <cstddef>

namespace gptcore {

// End (byte offset) of the piece that starts at `pos` in text[0, n); pos < n. Pieces tile the text.
size_t pretoken_end(const char* text, size_t n, size_t pos);

}  // namespace gptcore
