#include "sampling/repetition_penalty.h"

#include <algorithm>
#include <vector>

namespace gptcore {

void repetition_penalty(float* logits, const int32_t* tokens, int n, float penalty) {
    std::vector<int32_t> distinct(tokens, tokens + n);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (int32_t t : distinct) logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
}

}  // namespace gptcore
