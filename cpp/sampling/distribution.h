// The categorical distribution a row of logits defines: its normaliser, its mode, a draw from it.
// Entries at -inf have probability 0. Sums run in double so 50k-entry vocabularies lose no precision.
#pragma once

#include <vector>

namespace gptcore {

// log(sum(exp(logits))) over logits (V); -inf when every entry is -inf.
double log_sum_exp(const float* logits, int V);

// Index of the largest of logits (V); the first one on ties, as torch.argmax.
int argmax(const float* logits, int V);

// The token whose cumulative probability (in index order) first exceeds u in [0, 1): inverse-CDF sampling.
int draw(const float* logits, int V, double u);

// Indices of the finite entries of logits (V), for the filters that sort them.
std::vector<int> finite_indices(const float* logits, int V);

}  // namespace gptcore
