#pragma once

namespace gptcore {

// logits (V) in place: logits / temperature (temperature > 0; < 1 sharpens, > 1 flattens).
void temperature(float* logits, int V, float temperature);

}  // namespace gptcore
