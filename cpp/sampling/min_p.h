#pragma once

namespace gptcore {

// logits (V) in place, transformers' MinPLogitsWarper (Nguyen et al. 2024): tokens less likely than
// min_p times the most likely token get -inf.
void min_p(float* logits, int V, float min_p);

}  // namespace gptcore
