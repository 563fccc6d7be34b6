#pragma once

#include <cstdint>

namespace gptcore {

// logits (V) in place, transformers' NoRepeatNGramLogitsProcessor: over tokens (n), prompt and generated,
// every token that would complete an n-gram of `ngram_size` already present gets -inf.
void no_repeat_ngram(float* logits, const int32_t* tokens, int n, int ngram_size);

}  // namespace gptcore
