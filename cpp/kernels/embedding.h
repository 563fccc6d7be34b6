#pragma once

#include <cstdint>

#include "kernels/quantize.h"

namespace gptcore {

// out (T, C) = wte[tokens[t]] + wpe[positions[t]]; wte (V, C), wpe (P, C). Ids are checked by the caller.
void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, const float* wte,
                       const float* wpe, int T, int C);
void embedding_forward_naive(float* out, const int32_t* tokens, const int32_t* positions, const float* wte,
                             const float* wpe, int T, int C);

// The same with wte a bf16 or int8 QuantizedMatrix (V, C): each token's row is widened to float32.
void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, const QuantizedMatrix& wte,
                       const float* wpe, int T);
void embedding_forward_naive(float* out, const int32_t* tokens, const int32_t* positions, const QuantizedMatrix& wte,
                             const float* wpe, int T);

}  // namespace gptcore
