#pragma once

#include <cstdint>

namespace gptcore {

// GPT-2's gelu_new, the tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), elementwise over n values.
// out may equal inp.
void gelu_forward(float* out, const float* inp, int64_t n);
void gelu_forward_naive(float* out, const float* inp, int64_t n);

}  // namespace gptcore
