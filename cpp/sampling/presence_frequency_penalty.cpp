#include "sampling/presence_frequency_penalty.h"

#include <algorithm>
#include <vector>

namespace gptcore {

void presence_frequency_penalty(float* logits, const int32_t* generated, int n, float presence, float frequency) {
    std::vector<int32_t> sorted(generated, generated + n);
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && sorted[j] == sorted[i]) ++j;  // [i, j) is one token's run
        logits[sorted[i]] -= presence + frequency * static_cast<float>(j - i);
        i = j;
    }
}

}  // namespace gptcore
