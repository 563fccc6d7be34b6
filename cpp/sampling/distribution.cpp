#include "sampling/distribution.h"

#include <cmath>
#include <limits>

namespace gptcore {

double log_sum_exp(const float* logits, int V) {
    const float max = logits[argmax(logits, V)];
    if (max == -std::numeric_limits<float>::infinity()) return max;
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(static_cast<double>(logits[v]) - max);
    return max + std::log(sum);
}

int argmax(const float* logits, int V) {
    int best = 0;
    for (int v = 1; v < V; ++v)
        if (logits[v] > logits[best]) best = v;
    return best;
}

int draw(const float* logits, int V, double u) {
    const double lse = log_sum_exp(logits, V);
    double cumulative = 0.0;
    int last = argmax(logits, V);  // a finite entry, returned if rounding leaves u above the total
    for (int v = 0; v < V; ++v) {
        if (logits[v] == -std::numeric_limits<float>::infinity()) continue;
        cumulative += std::exp(logits[v] - lse);
        last = v;
        if (u < cumulative) return v;
    }
    return last;
}

std::vector<int> finite_indices(const float* logits, int V) {
    std::vector<int> idx;
    for (int v = 0; v < V; ++v)
        if (logits[v] != -std::numeric_limits<float>::infinity()) idx.push_back(v);
    return idx;
}

}  // namespace gptcore
