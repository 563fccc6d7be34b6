// Scalar math written so the compiler vectorises it inside the kernels' loops (no libm calls, no branches).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

// Compiles a function once per x86-64 level and picks the best at load time (GCC/Clang ifunc).
// Used on plain loops; hand-written intrinsics kernels dispatch on runtime/cpu.h instead.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(__linux__)
#define GPTCORE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GPTCORE_CLONES
#endif

namespace gptcore {

// exp(x) in float: Cody-Waite reduction to r in [-ln2/2, ln2/2] and the Cephes degree-6 polynomial;
// about 2 ulp over the range. Below -87.3 it returns exactly 0 (so -inf gives 0), above 88.7 it saturates;
// NaN stays NaN. Written without branches (min / max and a final select) so loops over it vectorise.
inline float exp_approx(float x) {
    const float lo = -87.33654f, hi = 88.72283f;
    const float xc = std::min(std::max(x, lo), hi);
    // The nearest integer to xc / ln2, ties to even: adding and subtracting 1.5 * 2^23 drops the fraction.
    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof(scale));
    const float e = p * scale;
    return x < lo ? 0.0f : e;
}

// tanh(y) = 1 - 2 / (exp(2y) + 1); absolute error ~1e-7, exact limits at +-inf.
inline float tanh_approx(float y) { return 1.0f - 2.0f / (exp_approx(2.0f * y) + 1.0f); }

}  // namespace gptcore

namespace gptcore {

// sum_k a[k] * b[k] with 16 independent partial sums, so the loop vectorises without -ffast-math.
inline float dot(const float* __restrict a, const float* __restrict b, int n) {
    float acc[16] = {};
    int k = 0;
    for (; k + 16 <= n; k += 16)
        for (int j = 0; j < 16; ++j) acc[j] += a[k + j] * b[k + j];
    float sum = 0.0f;
    for (int j = 0; j < 16; ++j) sum += acc[j];
    for (; k < n; ++k) sum += a[k] * b[k];
    return sum;
}

// y[i] += alpha * x[i]
inline void axpy(float* __restrict y, float alpha, const float* __restrict x, int n) {
    for (int i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace gptcore
