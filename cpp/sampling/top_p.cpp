#include "sampling/top_p.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sampling/distribution.h"

namespace gptcore {

void top_p(float* logits, int V, float top_p) {
    std::vector<int> idx = finite_indices(logits, V);
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[a] < logits[b]; });  // ascending
    const double lse = log_sum_exp(logits, V);
    // Drop from the least likely up while the dropped mass stays <= 1 - top_p; the most likely always stays.
    double dropped = 0.0;
    for (size_t i = 0; i + 1 < idx.size(); ++i) {
        dropped += std::exp(logits[idx[i]] - lse);
        if (dropped > 1.0 - top_p) break;
        logits[idx[i]] = -std::numeric_limits<float>::infinity();
    }
}

}  // namespace gptcore
