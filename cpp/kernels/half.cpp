#include "kernels/half.h"

#include "runtime/cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GPTCORE_HAVE_F16C_PATH 1
#define GPTCORE_F16C __attribute__((target("avx2,f16c")))
#endif

namespace gptcore {

namespace {

#ifdef GPTCORE_HAVE_F16C_PATH

GPTCORE_F16C void halves_from_floats_f16c(const float* x, uint16_t* out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; ++i) out[i] = half_from_float(x[i]);
}

GPTCORE_F16C void floats_from_halves_f16c(const uint16_t* h, float* out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
    for (; i < n; ++i) out[i] = float_from_half(h[i]);
}

#endif

}  // namespace

bool f16c_supported() {
#ifdef GPTCORE_HAVE_F16C_PATH
    // x86-64-v3 (AVX2 + FMA, what simd_detected calls avx2) includes F16C; checked on its own all the same.
    static const bool yes = simd_detected() >= SimdLevel::avx2 && __builtin_cpu_supports("f16c");
    return yes;
#else
    return false;
#endif
}

void halves_from_floats(const float* x, uint16_t* out, long n, bool portable) {
#ifdef GPTCORE_HAVE_F16C_PATH
    if (!portable && f16c_supported()) return halves_from_floats_f16c(x, out, n);
#endif
    for (long i = 0; i < n; ++i) out[i] = half_from_float(x[i]);
}

void floats_from_halves(const uint16_t* h, float* out, long n, bool portable) {
#ifdef GPTCORE_HAVE_F16C_PATH
    if (!portable && f16c_supported()) return floats_from_halves_f16c(h, out, n);
#endif
    for (long i = 0; i < n; ++i) out[i] = float_from_half(h[i]);
}

}  // namespace gptcore
