#pragma once

namespace gptcore {

// logits (V) in place, transformers' TypicalLogitsWarper (locally typical sampling, Meister et al. 2022):
// ranks tokens by |-log p - entropy| and keeps the closest ones until their mass reaches typical_p.
void typical_p(float* logits, int V, float typical_p);

}  // namespace gptcore
