#include "kernels/softmax.h"

#include <cmath>
#include <limits>

#include "kernels/vector_math.h"

namespace gptcore {

GPTCORE_CLONES
void softmax_forward(float* x, int N, int C) {
    for (int n = 0; n < N; ++n) {
        float* row = x + static_cast<long>(n) * C;
        float max = -std::numeric_limits<float>::infinity();
        for (int c = 0; c < C; ++c) max = row[c] > max ? row[c] : max;
        float sum = 0.0f;
        for (int c = 0; c < C; ++c) {
            row[c] = exp_approx(row[c] - max);
            sum += row[c];
        }
        const float inv = 1.0f / sum;
        for (int c = 0; c < C; ++c) row[c] *= inv;
    }
}

void softmax_forward_naive(float* x, int N, int C) {
    for (int n = 0; n < N; ++n) {
        float* row = x + static_cast<long>(n) * C;
        double max = -std::numeric_limits<double>::infinity();
        for (int c = 0; c < C; ++c) max = std::fmax(max, row[c]);
        double sum = 0.0;
        for (int c = 0; c < C; ++c) sum += std::exp(row[c] - max);
        for (int c = 0; c < C; ++c) row[c] = static_cast<float>(std::exp(row[c] - max) / sum);
    }
}

}  // namespace gptcore
