#include "sampling/logit_bias.h"

namespace gptcore {

void logit_bias(float* logits, const std::vector<std::pair<int32_t, float>>& bias) {
    for (const auto& [id, b] : bias) logits[id] += b;
}

}  // namespace gptcore
