#include "sampling/temperature.h"

namespace gptcore {

void temperature(float* logits, int V, float temperature) {
    for (int v = 0; v < V; ++v) logits[v] /= temperature;
}

}  // namespace gptcore
