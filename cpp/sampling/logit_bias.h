#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace gptcore {

// logits (V) in place: logits[id] += bias for each (id, bias). Ids are checked by SamplingParams::validate.
void logit_bias(float* logits, const std::vector<std::pair<int32_t, float>>& bias);

}  // namespace gptcore
