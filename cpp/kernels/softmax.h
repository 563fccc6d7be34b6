#pragma once

namespace gptcore {

// In place, per row: x (N, C) <- exp(x - max) / sum(exp(x - max)). -inf entries become 0.
void softmax_forward(float* x, int N, int C);
void softmax_forward_naive(float* x, int N, int C);

}  // namespace gptcore
