#include "sampling/typical_p.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sampling/distribution.h"

namespace gptcore {

void typical_p(float* logits, int V, float typical_p) {
    const std::vector<int> idx = finite_indices(logits, V);
    const int n = static_cast<int>(idx.size());
    const double lse = log_sum_exp(logits, V);
    double entropy = 0.0;
    for (int v : idx) entropy -= std::exp(logits[v] - lse) * (logits[v] - lse);
    std::vector<double> distance(n);  // |-log p - H|
    for (int i = 0; i < n; ++i) distance[i] = std::fabs(-(logits[idx[i]] - lse) - entropy);
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](int a, int b) { return distance[a] < distance[b]; });
    // last = how many of the closest tokens have cumulative mass < typical_p; that one is the last kept,
    // with every token as close to the entropy as it.
    double cumulative = 0.0;
    int last = 0;
    for (int i = 0; i < n; ++i) {
        cumulative += std::exp(logits[idx[order[i]]] - lse);
        if (cumulative < typical_p) last = i + 1;
    }
    last = std::min(last, n - 1);
    const double cutoff = distance[order[last]];
    for (int i = 1; i < n; ++i)  // the closest token always stays
        if (distance[order[i]] > cutoff) logits[idx[order[i]]] = -std::numeric_limits<float>::infinity();
}

}  // namespace gptcore
