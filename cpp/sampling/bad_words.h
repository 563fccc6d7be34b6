#pragma once

#include <cstdint>
#include <vector>

namespace gptcore {

// logits (V) in place, transformers' NoBadWordsLogitsProcessor: a one-token bad word is always banned (-inf);
// the last token of a longer one is banned when tokens (n) end with the bad word's other tokens.
void bad_words(float* logits, const int32_t* tokens, int n, const std::vector<std::vector<int32_t>>& words);

}  // namespace gptcore
