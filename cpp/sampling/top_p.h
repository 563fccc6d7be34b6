#pragma once

namespace gptcore {

// logits (V) in place, transformers' TopPLogitsWarper (nucleus sampling, Holtzman et al. 2019): keeps the
// most likely tokens whose probabilities sum to at least top_p (always the most likely one); the rest get -inf.
void top_p(float* logits, int V, float top_p);

}  // namespace gptcore
