#include "sampling/min_new_tokens.h"

#include <limits>

namespace gptcore {

void min_new_tokens(float* logits, int n_generated, int min_new, const std::vector<int32_t>& eos_token_ids) {
    if (n_generated >= min_new) return;
    for (int32_t eos : eos_token_ids) logits[eos] = -std::numeric_limits<float>::infinity();
}

}  // namespace gptcore
