#include "sampling/bad_words.h"

#include <algorithm>
#include <limits>

namespace gptcore {

void bad_words(float* logits, const int32_t* tokens, int n, const std::vector<std::vector<int32_t>>& words) {
    for (const auto& word : words) {
        const int m = static_cast<int>(word.size()) - 1;  // tokens that must precede the banned one
        if (m <= n && std::equal(word.begin(), word.end() - 1, tokens + n - m))
            logits[word.back()] = -std::numeric_limits<float>::infinity();
    }
}

}  // namespace gptcore
