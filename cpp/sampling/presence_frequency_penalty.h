#pragma once

#include <cstdint>

namespace gptcore {

// logits (V) in place, the OpenAI API's penalties over the generated tokens (n), not the prompt:
// logits[t] -= presence * (count(t) > 0) + frequency * count(t).
void presence_frequency_penalty(float* logits, const int32_t* generated, int n, float presence, float frequency);

}  // namespace gptcore
