#pragma once

namespace gptcore {

// logits (V) in place, transformers' TopKLogitsWarper: entries below the k-th largest get -inf (ties with
// it stay). k >= V keeps everything.
void top_k(float* logits, int V, int k);

}  // namespace gptcore
