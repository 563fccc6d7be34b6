#pragma once

namespace gptcore {

// out (N, C) = (inp - mean) / sqrt(var + eps) * weight + bias, per row; weight, bias (C). out may equal inp.
void layernorm_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, float eps);
void layernorm_forward_naive(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                             float eps);

}  // namespace gptcore
