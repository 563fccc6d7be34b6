#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/half.h"
#include "kernels/softmax.h"
#include "kernels/vector_math.h"
#include "runtime/blas.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GPTCORE_HAVE_F16C_PATH 1
#define GPTCORE_F16C __attribute__((target("avx2,fma,f16c")))
#endif

namespace gptcore {

namespace {

// With this many queries (a prompt) the scores and the weighted sum are two sgemm calls;
// below it (decoding) plain dot products and axpys over the cache are faster.
constexpr int kGemmQueries = 8;
// Keys (and values) a float16 cache widens at a time when decoding: 8 KiB of float32 at hd = 64, in L1.
constexpr int kKeyBlock = 32;

inline int first_key(int pos, int window) { return window > 0 ? std::max(0, pos - window + 1) : 0; }

// Rows [j0, j0 + n) of one head's cache as float32: the float32 cache itself, or float16 widened into buf.
inline const float* cache_rows(const float* cache, int j0, int, int hd, float*) {
    return cache + static_cast<long>(j0) * hd;
}
inline const float* cache_rows(const uint16_t* cache, int j0, int n, int hd, float* buf) {
    floats_from_halves(cache + static_cast<long>(j0) * hd, buf, static_cast<long>(n) * hd);
    return buf;
}

// Calls fn(i, j, row) for each query i and each key j it sees, in order of j, where row is the cache's row j as
// float32; a float16 cache is widened kKeyBlock rows at a time into buf.
template <typename T, typename Fn>
[[gnu::always_inline]] inline void visit_cache_rows(const T* cache, int n_q, int pos0, int hd, int window, float* buf,
                                                    Fn fn) {
    const int n_kv = pos0 + n_q;
    for (int j0 = first_key(pos0, window); j0 < n_kv; j0 += kKeyBlock) {
        const int nb = std::min(kKeyBlock, n_kv - j0);
        const float* rows = cache_rows(cache, j0, nb, hd, buf);
        for (int i = 0; i < n_q; ++i) {
            const int end = std::min(j0 + nb, pos0 + i + 1);
            for (int j = std::max(j0, first_key(pos0 + i, window)); j < end; ++j)
                fn(i, j, rows + static_cast<long>(j - j0) * hd);
        }
    }
}

// Decoding, between scores and values: each query's scores s (n_q, n_kv) over the keys it sees become
// probabilities, and its output row out (n_q, ldo) is zeroed for the sum of values.
inline void softmax_rows(float* s, float* out, int ldo, int n_q, int pos0, int hd, int window) {
    const int n_kv = pos0 + n_q;
    for (int i = 0; i < n_q; ++i) {
        const int pos = pos0 + i, lo = first_key(pos, window);
        softmax_forward(s + static_cast<long>(i) * n_kv + lo, 1, pos - lo + 1);
        float* o = out + static_cast<long>(i) * ldo;
        std::fill(o, o + hd, 0.0f);
    }
}

// probs (n_q, n_kv) = the probabilities in s (n_q, n_kv), zeros where masked.
inline void copy_probs(const float* s, float* probs, int n_q, int pos0, int window) {
    const int n_kv = pos0 + n_q;
    for (int i = 0; i < n_q; ++i) {
        const int pos = pos0 + i, lo = first_key(pos, window);
        float* row = probs + static_cast<long>(i) * n_kv;
        std::fill(row, row + n_kv, 0.0f);
        std::copy(s + static_cast<long>(i) * n_kv + lo, s + static_cast<long>(i) * n_kv + pos + 1, row + lo);
    }
}

// Decoding: scores (n_q, n_kv) in scratch, softmax, then the probabilities' sum of values.
template <typename T>
[[gnu::always_inline]] inline void attention_rows_body(float* out, int ldo, const float* q, int ldq, const T* k_cache,
                                                       const T* v_cache, int n_q, int pos0, int hd, float scale,
                                                       int window, float* scratch, float* probs) {
    const int n_kv = pos0 + n_q;
    float* s = scratch;                                    // (n_q, n_kv)
    float* buf = scratch + static_cast<long>(n_q) * n_kv;  // (kKeyBlock, hd) for a float16 cache
    visit_cache_rows(k_cache, n_q, pos0, hd, window, buf, [&](int i, int j, const float* k) {
        s[static_cast<long>(i) * n_kv + j] = scale * dot(q + static_cast<long>(i) * ldq, k, hd);
    });
    softmax_rows(s, out, ldo, n_q, pos0, hd, window);
    visit_cache_rows(v_cache, n_q, pos0, hd, window, buf, [&](int i, int j, const float* v) {
        axpy(out + static_cast<long>(i) * ldo, s[static_cast<long>(i) * n_kv + j], v, hd);
    });
    if (probs) copy_probs(s, probs, n_q, pos0, window);
}

GPTCORE_CLONES
void attention_rows(float* out, int ldo, const float* q, int ldq, const float* k_cache, const float* v_cache,
                    int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs) {
    attention_rows_body(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch, probs);
}

GPTCORE_CLONES
void attention_rows(float* out, int ldo, const float* q, int ldq, const uint16_t* k_cache, const uint16_t* v_cache,
                    int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs) {
    attention_rows_body(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch, probs);
}

#ifdef GPTCORE_HAVE_F16C_PATH

GPTCORE_F16C inline __m256 load_half8(const uint16_t* h) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

// q (hd) . k (hd float16), hd a multiple of 8.
GPTCORE_F16C inline float dot_half(const float* q, const uint16_t* k, int hd) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int c = 0;
    for (; c + 16 <= hd; c += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), load_half8(k + c), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c + 8), load_half8(k + c + 8), a1);
    }
    if (c < hd) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), load_half8(k + c), a0);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(_mm256_add_ps(a0, a1)), _mm256_extractf128_ps(_mm256_add_ps(a0, a1), 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// o (hd) += p * v (hd float16), hd a multiple of 8.
GPTCORE_F16C inline void axpy_half(float* o, float p, const uint16_t* v, int hd) {
    const __m256 pv = _mm256_set1_ps(p);
    for (int c = 0; c < hd; c += 8)
        _mm256_storeu_ps(o + c, _mm256_fmadd_ps(pv, load_half8(v + c), _mm256_loadu_ps(o + c)));
}

// Decoding over a float16 cache without a widened copy: each key and value is converted in registers.
GPTCORE_F16C void attention_rows_f16c(float* out, int ldo, const float* q, int ldq, const uint16_t* k_cache,
                                      const uint16_t* v_cache, int n_q, int pos0, int hd, float scale, int window,
                                      float* scratch, float* probs) {
    const int n_kv = pos0 + n_q;
    for (int i = 0; i < n_q; ++i) {
        const float* qi = q + static_cast<long>(i) * ldq;
        float* s = scratch + static_cast<long>(i) * n_kv;
        for (int j = first_key(pos0 + i, window); j <= pos0 + i; ++j)
            s[j] = scale * dot_half(qi, k_cache + static_cast<long>(j) * hd, hd);
    }
    softmax_rows(scratch, out, ldo, n_q, pos0, hd, window);
    for (int i = 0; i < n_q; ++i) {
        const float* s = scratch + static_cast<long>(i) * n_kv;
        float* o = out + static_cast<long>(i) * ldo;
        for (int j = first_key(pos0 + i, window); j <= pos0 + i; ++j)
            axpy_half(o, s[j], v_cache + static_cast<long>(j) * hd, hd);
    }
    if (probs) copy_probs(scratch, probs, n_q, pos0, window);
}

#endif

// Prompts: scores (n_q, n_kv) = scale * q k^T by sgemm, the masked entries computed and then zeroed.
void attention_gemm(float* out, int ldo, const float* q, int ldq, const float* k_cache, const float* v_cache,
                    int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs) {
    const int n_kv = pos0 + n_q;
    blas::sgemm(false, true, n_q, n_kv, hd, scale, q, ldq, k_cache, hd, 0.0f, scratch, n_kv);
    for (int i = 0; i < n_q; ++i) {
        const int pos = pos0 + i, lo = first_key(pos, window);
        float* row = scratch + static_cast<long>(i) * n_kv;
        std::fill(row, row + lo, 0.0f);
        softmax_forward(row + lo, 1, pos - lo + 1);
        std::fill(row + pos + 1, row + n_kv, 0.0f);
    }
    blas::sgemm(false, false, n_q, hd, n_kv, 1.0f, scratch, n_kv, v_cache, hd, 0.0f, out, ldo);
    if (probs) std::copy(scratch, scratch + static_cast<long>(n_q) * n_kv, probs);
}

}  // namespace

std::size_t attention_scratch_floats(int n_q, int n_kv, int hd, bool half_cache) {
    const std::size_t scores = static_cast<std::size_t>(n_q) * n_kv;
    if (!half_cache) return scores;
    // A block of widened rows when decoding; the whole widened keys and values for sgemm.
    return scores + (n_q < kGemmQueries ? static_cast<std::size_t>(kKeyBlock) : 2 * static_cast<std::size_t>(n_kv)) * hd;
}

void attention_forward(float* out, int ldo, const float* q, int ldq, const float* k_cache, const float* v_cache,
                       int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs) {
    if (n_q < kGemmQueries)
        attention_rows(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch, probs);
    else
        attention_gemm(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch, probs);
}

void attention_forward(float* out, int ldo, const float* q, int ldq, const uint16_t* k_cache,
                       const uint16_t* v_cache, int n_q, int pos0, int hd, float scale, int window, float* scratch,
                       float* probs) {
    if (n_q < kGemmQueries) {
#ifdef GPTCORE_HAVE_F16C_PATH
        if (hd % 8 == 0 && f16c_supported())
            return attention_rows_f16c(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch,
                                       probs);
#endif
        attention_rows(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch, probs);
        return;
    }
    const int n_kv = pos0 + n_q;
    float* k = scratch + static_cast<long>(n_q) * n_kv;
    float* v = k + static_cast<long>(n_kv) * hd;
    floats_from_halves(k_cache, k, static_cast<long>(n_kv) * hd);
    floats_from_halves(v_cache, v, static_cast<long>(n_kv) * hd);
    attention_gemm(out, ldo, q, ldq, k, v, n_q, pos0, hd, scale, window, scratch, probs);
}

void attention_forward_naive(float* out, int ldo, const float* q, int ldq, const float* k_cache,
                             const float* v_cache, int n_q, int pos0, int hd, float scale, int window) {
    for (int i = 0; i < n_q; ++i) {
        const int pos = pos0 + i, lo = first_key(pos, window);
        std::vector<double> s(pos - lo + 1);
        double max = -std::numeric_limits<double>::infinity(), sum = 0.0;
        for (int j = lo; j <= pos; ++j) {
            double d = 0.0;
            for (int c = 0; c < hd; ++c) d += static_cast<double>(q[static_cast<long>(i) * ldq + c]) * k_cache[static_cast<long>(j) * hd + c];
            s[j - lo] = d * scale;
            max = std::max(max, s[j - lo]);
        }
        for (double& v : s) sum += (v = std::exp(v - max));
        for (int c = 0; c < hd; ++c) {
            double o = 0.0;
            for (int j = lo; j <= pos; ++j) o += s[j - lo] / sum * v_cache[static_cast<long>(j) * hd + c];
            out[static_cast<long>(i) * ldo + c] = static_cast<float>(o);
        }
    }
}

}  // namespace gptcore
