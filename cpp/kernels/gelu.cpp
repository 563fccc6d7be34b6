#include "kernels/gelu.h"

#include <cmath>

#include "kernels/vector_math.h"

namespace gptcore {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
}

GPTCORE_CLONES
void gelu_forward(float* out, const float* inp, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanh_approx(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    }
}

void gelu_forward_naive(float* out, const float* inp, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        double x = inp[i];
        out[i] = static_cast<float>(0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
    }
}

}  // namespace gptcore
