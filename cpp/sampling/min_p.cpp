#include "sampling/min_p.h"

#include <cmath>
#include <limits>

#include "sampling/distribution.h"

namespace gptcore {

void min_p(float* logits, int V, float min_p) {
    // p(v) < min_p * p_max  <=>  logits[v] - max < log(min_p): no normalisation needed.
    const double threshold = logits[argmax(logits, V)] + std::log(static_cast<double>(min_p));
    for (int v = 0; v < V; ++v)
        if (logits[v] < threshold) logits[v] = -std::numeric_limits<float>::infinity();
}

}  // namespace gptcore
