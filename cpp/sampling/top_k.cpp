#include "sampling/top_k.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

namespace gptcore {

void top_k(float* logits, int V, int k) {
    if (k >= V) return;
    std::vector<float> sorted(logits, logits + V);
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<float>());
    const float kth = sorted[k - 1];
    for (int v = 0; v < V; ++v)
        if (logits[v] < kth) logits[v] = -std::numeric_limits<float>::infinity();
}

}  // namespace gptcore
