#include "sampling/no_repeat_ngram.h"

#include <algorithm>
#include <limits>

namespace gptcore {

void no_repeat_ngram(float* logits, const int32_t* tokens, int n, int ngram_size) {
    if (n < ngram_size) return;  // no complete n-gram yet
    // The next token completes the n-gram that starts with the last ngram_size - 1 tokens; every earlier
    // window with that prefix bans its own last token.
    const int32_t* prefix = tokens + n - (ngram_size - 1);
    for (int i = 0; i + ngram_size <= n; ++i)
        if (std::equal(prefix, tokens + n, tokens + i))
            logits[tokens[i + ngram_size - 1]] = -std::numeric_limits<float>::infinity();
}

}  // namespace gptcore
