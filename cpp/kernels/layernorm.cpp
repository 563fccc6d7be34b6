#include "kernels/layernorm.h"

#include <cmath>

#include "kernels/vector_math.h"

namespace gptcore {

// Two passes in float over a row that sits in L1; the variance pass subtracts the mean first, as torch does,
// so rows with a large mean keep their precision.
GPTCORE_CLONES
void layernorm_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, float eps) {
    for (int n = 0; n < N; ++n) {
        const float* x = inp + static_cast<long>(n) * C;
        float* y = out + static_cast<long>(n) * C;
        float sum = 0.0f;
        for (int c = 0; c < C; ++c) sum += x[c];
        const float mean = sum / C;
        float sq = 0.0f;
        for (int c = 0; c < C; ++c) {
            float d = x[c] - mean;
            sq += d * d;
        }
        const float rstd = 1.0f / std::sqrt(sq / C + eps);
        for (int c = 0; c < C; ++c) y[c] = (x[c] - mean) * rstd * weight[c] + bias[c];
    }
}

void layernorm_forward_naive(float* out, const float* inp, const float* weight, const float* bias, int N, int C,
                             float eps) {
    for (int n = 0; n < N; ++n) {
        const float* x = inp + static_cast<long>(n) * C;
        double mean = 0.0, var = 0.0;
        for (int c = 0; c < C; ++c) mean += x[c];
        mean /= C;
        for (int c = 0; c < C; ++c) var += (x[c] - mean) * (x[c] - mean);
        var /= C;
        double rstd = 1.0 / std::sqrt(var + eps);
        for (int c = 0; c < C; ++c)
            out[static_cast<long>(n) * C + c] = static_cast<float>((x[c] - mean) * rstd * weight[c] + bias[c]);
    }
}

}  // namespace gptcore
