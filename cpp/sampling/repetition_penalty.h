#pragma once

#include <cstdint>

namespace gptcore {

// logits (V) in place, transformers' RepetitionPenaltyLogitsProcessor (CTRL, Keskar et al. 2019): every
// distinct token of tokens (n), the prompt and what was generated, has a positive logit divided by
// `penalty` and a negative one multiplied by it, so penalty > 1 always makes it less likely.
void repetition_penalty(float* logits, const int32_t* tokens, int n, float penalty);

}  // namespace gptcore
