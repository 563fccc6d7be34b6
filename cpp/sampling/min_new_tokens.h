#pragma once

#include <cstdint>
#include <vector>

namespace gptcore {

// logits (V) in place, transformers' MinNewTokensLengthLogitsProcessor: while fewer than min_new_tokens tokens
// have been generated, the end-of-sequence tokens get -inf.
void min_new_tokens(float* logits, int n_generated, int min_new, const std::vector<int32_t>& eos_token_ids);

}  // namespace gptcore
