#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/vector_math.h"

namespace gptcore {

// Each pass keeps 16 independent partial results (max, sum), so the loops vectorise without reassociating a
// float reduction.
GPTCORE_CLONES
void softmax_forward(float* x, int N, int C) {
    constexpr int W = 16;
    for (int n = 0; n < N; ++n) {
        float* row = x + static_cast<long>(n) * C;
        float maxes[W];
        std::fill(maxes, maxes + W, -std::numeric_limits<float>::infinity());
        int c = 0;
        for (; c + W <= C; c += W)
            for (int j = 0; j < W; ++j) maxes[j] = std::max(maxes[j], row[c + j]);
        float max = *std::max_element(maxes, maxes + W);
        for (; c < C; ++c) max = std::max(max, row[c]);
        for (c = 0; c < C; ++c) row[c] = exp_approx(row[c] - max);
        float sums[W] = {};
        for (c = 0; c + W <= C; c += W)
            for (int j = 0; j < W; ++j) sums[j] += row[c + j];
        float sum = 0.0f;
        for (int j = 0; j < W; ++j) sum += sums[j];
        for (; c < C; ++c) sum += row[c];
        const float inv = 1.0f / sum;
        for (c = 0; c < C; ++c) row[c] *= inv;
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
