#include "kernels/embedding.h"

#include "kernels/vector_math.h"

namespace gptcore {

GPTCORE_CLONES
void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, const float* wte,
                       const float* wpe, int T, int C) {
    for (int t = 0; t < T; ++t) {
        const float* __restrict te = wte + static_cast<long>(tokens[t]) * C;
        const float* __restrict pe = wpe + static_cast<long>(positions[t]) * C;
        float* __restrict y = out + static_cast<long>(t) * C;
        for (int c = 0; c < C; ++c) y[c] = te[c] + pe[c];
    }
}

void embedding_forward_naive(float* out, const int32_t* tokens, const int32_t* positions, const float* wte,
                             const float* wpe, int T, int C) {
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c)
            out[static_cast<long>(t) * C + c] =
                wte[static_cast<long>(tokens[t]) * C + c] + wpe[static_cast<long>(positions[t]) * C + c];
}

GPTCORE_CLONES
void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, const QuantizedMatrix& wte,
                       const float* wpe, int T) {
    const int C = wte.K;
    for (int t = 0; t < T; ++t) {
        float* __restrict y = out + static_cast<long>(t) * C;
        dequantize_rows(wte, tokens[t], tokens[t] + 1, y);
        const float* __restrict pe = wpe + static_cast<long>(positions[t]) * C;
        for (int c = 0; c < C; ++c) y[c] += pe[c];
    }
}

void embedding_forward_naive(float* out, const int32_t* tokens, const int32_t* positions, const QuantizedMatrix& wte,
                             const float* wpe, int T) {
    const int C = wte.K;
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c)
            out[static_cast<long>(t) * C + c] = wte.at(tokens[t], c) + wpe[static_cast<long>(positions[t]) * C + c];
}

}  // namespace gptcore
