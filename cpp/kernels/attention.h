#pragma once

#include <cstddef>
#include <cstdint>

namespace gptcore {

// Causal self-attention of one head of one sequence, reading keys and values from its KV cache.
//   q        (n_q, ldq)       queries of the new tokens, at positions pos0 .. pos0 + n_q - 1
//   k_cache  (>= n_kv, hd)    keys at positions 0 .. n_kv - 1, where n_kv = pos0 + n_q: float32, or float16
//                             bits (kernels/half.h), widened to float32 a block at a time
//   v_cache  (>= n_kv, hd)    values, likewise
//   out      (n_q, ldo)       softmax(scale * q k^T, masked) v
// The query at position p sees keys [0, p]; with window > 0 only the last `window` of them
// (keys [p - window + 1, p]), GPT-Neo's local attention. scratch holds attention_scratch_floats(...) floats.
// probs, when not null, receives the attention probabilities (n_q, n_kv), zeros where masked.
void attention_forward(float* out, int ldo, const float* q, int ldq, const float* k_cache, const float* v_cache,
                       int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs = nullptr);
void attention_forward(float* out, int ldo, const float* q, int ldq, const uint16_t* k_cache,
                       const uint16_t* v_cache, int n_q, int pos0, int hd, float scale, int window, float* scratch,
                       float* probs = nullptr);
std::size_t attention_scratch_floats(int n_q, int n_kv, int hd, bool half_cache);

void attention_forward_naive(float* out, int ldo, const float* q, int ldq, const float* k_cache,
                             const float* v_cache, int n_q, int pos0, int hd, float scale, int window);

}  // namespace gptcore
