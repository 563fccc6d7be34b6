#include "kernels/matmul_quantized.h"

#include <algorithm>
#include <vector>

#include "kernels/vector_math.h"
#include "runtime/blas.h"
#include "runtime/cpu.h"
#include "runtime/thread_pool.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GPTCORE_HAVE_AVX2_PATH 1
#define GPTCORE_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace gptcore {

namespace {

// Decoding streams each weight matrix once; the kernels prefetch this far ahead of the weights they multiply
// (a software prefetch per 64-byte line), which keeps more reads in flight than the hardware prefetcher does
// alone: 124M int8 decoding went from 15-16 to 21-23 GB/s on 2 cores (docs/benchmarks.md).
constexpr int kPrefetchBytes = 1024;

// Outputs per sgemm panel for prompts: 64 outputs of K weights widened to float32 (768 KiB at K = 3072).
constexpr int kPanelRows = 64;

// Portable bf16 decoding, columns [n0, n1) of out (M, N) += inp (M, K) @ W^T: each output's weights are widened
// into a float32 row that stays in L1 and then dotted with every input row.
GPTCORE_CLONES
void streaming_portable(float* out, const float* inp, const QuantizedMatrix& w, int M, int n0, int n1) {
    const int K = w.K, N = w.N;
    std::vector<float> row(K);
    for (int n = n0; n < n1; ++n) {
        dequantize_rows(w, n, n + 1, row.data());
        for (int m = 0; m < M; ++m)
            out[static_cast<long>(m) * N + n] += dot(inp + static_cast<long>(m) * K, row.data(), K);
    }
}

// The integer dot product of K int8 weights and inputs.
inline int32_t dot_int8(const int8_t* w, const int8_t* x, int n) {
    int32_t s = 0;
    for (int k = 0; k < n; ++k) s += static_cast<int32_t>(w[k]) * x[k];
    return s;
}

// Portable int8 x int8 decoding, columns [n0, n1) of out (M, N) += the quantized rows xq (M, K), xs (M, groups)
// @ W^T: per group, the integer dot product times the two scales.
GPTCORE_CLONES
void streaming_portable_w8a8(float* out, const int8_t* xq, const float* xs, const QuantizedMatrix& w, int M, int n0,
                             int n1) {
    const int K = w.K, N = w.N, G = w.groups();
    for (int n = n0; n < n1; ++n) {
        const int8_t* wq = w.int8 + static_cast<long>(n) * K;
        const float* ws = w.scales + static_cast<long>(n) * G;
        for (int m = 0; m < M; ++m) {
            float sum = 0.0f;
            for (int g = 0; g < G; ++g) {
                const int k0 = g * kInt8GroupSize, len = std::min(kInt8GroupSize, K - k0);
                sum += static_cast<float>(dot_int8(wq + k0, xq + static_cast<long>(m) * K + k0, len)) *
                       (ws[g] * xs[static_cast<long>(m) * G + g]);
            }
            out[static_cast<long>(m) * N + n] += sum;
        }
    }
}

#ifdef GPTCORE_HAVE_AVX2_PATH

// The bf16 weights of one output as float32: 32 from k (a multiple of 32), 8 from k (a multiple of 8), or one.
struct Bf16Weights {
    const uint16_t* w;  // (K)
    static Bf16Weights of(const QuantizedMatrix& m, int n) { return {m.bf16 + static_cast<long>(n) * m.K}; }
    GPTCORE_AVX2 __m256 load8(int k) const {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + k));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    GPTCORE_AVX2 void load32(int k, __m256 out[4]) const {
        for (int j = 0; j < 4; ++j) out[j] = load8(k + 8 * j);
    }
    float at(int k) const { return float_from_bf16(w[k]); }
};

GPTCORE_AVX2 inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// sums[r] = inp[r] (K) . w for R rows of inp (R, K), w one output's bf16 weights. Each block of 32 weights is
// widened once and used for all R rows. Each row keeps A independent FMA chains to cover the FMA latency: 4 for one or two rows, 2 when more rows
// interleave (R x A accumulators and 4 weight vectors stay within the 16 AVX2 registers).
template <int R>
GPTCORE_AVX2 void dot_rows(const Bf16Weights& w, const float* inp, int K, float* sums) {
    constexpr int A = R <= 2 ? 4 : 2;
    __m256 acc[R][A];
    for (int r = 0; r < R; ++r)
        for (int a = 0; a < A; ++a) acc[r][a] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 32 <= K; k += 32) {
        _mm_prefetch(reinterpret_cast<const char*>(w.w + k) + kPrefetchBytes, _MM_HINT_T0);
        __m256 wk[4];
        w.load32(k, wk);
        for (int r = 0; r < R; ++r) {
            const float* x = inp + static_cast<long>(r) * K + k;
            for (int j = 0; j < 4; ++j)
                acc[r][j % A] = _mm256_fmadd_ps(wk[j], _mm256_loadu_ps(x + 8 * j), acc[r][j % A]);
        }
    }
    for (; k + 8 <= K; k += 8) {
        const __m256 w0 = w.load8(k);
        for (int r = 0; r < R; ++r)
            acc[r][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(inp + static_cast<long>(r) * K + k), acc[r][0]);
    }
    for (int r = 0; r < R; ++r) {
        for (int a = 1; a < A; ++a) acc[r][0] = _mm256_add_ps(acc[r][0], acc[r][a]);
        float sum = horizontal_sum(acc[r][0]);
        for (int j = k; j < K; ++j) sum += inp[static_cast<long>(r) * K + j] * w.at(j);
        sums[r] = sum;
    }
}

// One group of 64 int8 weights (wq + 64 g, scale ws[g]) against R quantized input rows, added to acc[r] as
// float32: 32 products at a time as |w| (unsigned) times x with w's sign (maddubs: pairs into int16, at most
// 2 * 127 * 127, no saturation), pairs of int16 into int32 (madd), the int32 sums to float times the two scales.
// |w| and w's sign are computed once and used for all R rows.
template <int R>
[[gnu::always_inline]] GPTCORE_AVX2 inline void w8a8_group(const int8_t* wq, const float* ws, const int8_t* xq,
                                                           const float* xs, int K, int G, int g, __m256* acc) {
    static_assert(kInt8GroupSize == 64, "two 32-byte blocks per group");
    const int k = g * kInt8GroupSize;
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + k));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wq + k + 32));
    const __m256i a0 = _mm256_sign_epi8(w0, w0), a1 = _mm256_sign_epi8(w1, w1);
    _mm_prefetch(reinterpret_cast<const char*>(wq + k) + kPrefetchBytes, _MM_HINT_T0);
    const __m256 wscale = _mm256_broadcast_ss(ws + g);
    for (int r = 0; r < R; ++r) {
        const int8_t* x = xq + static_cast<long>(r) * K + k;
        const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
        const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 32));
        const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(a0, _mm256_sign_epi8(x0, w0)), ones);
        const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(a1, _mm256_sign_epi8(x1, w1)), ones);
        const __m256 scale = _mm256_mul_ps(wscale, _mm256_broadcast_ss(xs + static_cast<long>(r) * G + g));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), scale, acc[r]);
    }
}

// sums[r] = row r of the quantized inputs xq (R, K), xs (R, G) . the int8 weights wq (K), ws (G): the full
// groups by w8a8_group, two at a time into two sets of accumulators when R is small (independent FMA chains);
// a last short group (K not a multiple of 64) in scalar code.
template <int R>
GPTCORE_AVX2 void dot_rows_w8a8(const int8_t* wq, const float* ws, const int8_t* xq, const float* xs, int K, int G,
                                float* sums) {
    constexpr bool two_sets = R <= 2;
    __m256 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    const int full = K / kInt8GroupSize;
    int g = 0;
    for (; g + 2 <= full; g += 2) {
        w8a8_group<R>(wq, ws, xq, xs, K, G, g, acc0);
        w8a8_group<R>(wq, ws, xq, xs, K, G, g + 1, two_sets ? acc1 : acc0);
    }
    if (g < full) w8a8_group<R>(wq, ws, xq, xs, K, G, g, acc0);
    for (int r = 0; r < R; ++r) {
        float sum = horizontal_sum(_mm256_add_ps(acc0[r], acc1[r]));
        if (full < G) {
            const int k0 = full * kInt8GroupSize;
            sum += static_cast<float>(dot_int8(wq + k0, xq + static_cast<long>(r) * K + k0, K - k0)) *
                   (ws[full] * xs[static_cast<long>(r) * G + full]);
        }
        sums[r] = sum;
    }
}

// The R-row dot products of one output n for input rows m.., in each decoding format.
struct Bf16Rows {
    const QuantizedMatrix& w;
    const float* inp;  // (M, K)
    template <int R>
    GPTCORE_AVX2 void dot(int n, int m, float* sums) const {
        dot_rows<R>(Bf16Weights::of(w, n), inp + static_cast<long>(m) * w.K, w.K, sums);
    }
};

struct Int8Rows {
    const QuantizedMatrix& w;
    const int8_t* xq;  // (M, K) quantized input rows
    const float* xs;   // (M, groups) their scales
    template <int R>
    GPTCORE_AVX2 void dot(int n, int m, float* sums) const {
        const int G = w.groups();
        dot_rows_w8a8<R>(w.int8 + static_cast<long>(n) * w.K, w.scales + static_cast<long>(n) * G,
                         xq + static_cast<long>(m) * w.K, xs + static_cast<long>(m) * G, w.K, G, sums);
    }
};

// Columns [n0, n1) of out (M, N) += the M rows @ W^T, rows four at a time; a second group of rows rereads the
// output's weights from L1, not from memory.
template <typename Rows>
GPTCORE_AVX2 void streaming_avx2(float* out, const Rows& rows, int M, int N, int n0, int n1) {
    float sums[4];
    for (int n = n0; n < n1; ++n)
        for (int m = 0; m < M; m += 4) {
            const int R = std::min(4, M - m);
            switch (R) {
                case 1: rows.template dot<1>(n, m, sums); break;
                case 2: rows.template dot<2>(n, m, sums); break;
                case 3: rows.template dot<3>(n, m, sums); break;
                default: rows.template dot<4>(n, m, sums); break;
            }
            for (int r = 0; r < R; ++r) out[static_cast<long>(m + r) * N + n] += sums[r];
        }
}

#endif  // GPTCORE_HAVE_AVX2_PATH

// xq, xs: the quantized input rows when quantizes_activations(w, M) (int8), else null (bf16).
void streaming_columns(float* out, const float* inp, const int8_t* xq, const float* xs, const QuantizedMatrix& w,
                       int M, int n0, int n1, bool portable) {
#ifdef GPTCORE_HAVE_AVX2_PATH
    if (!portable && simd_detected() >= SimdLevel::avx2) {
        if (xq)
            streaming_avx2(out, Int8Rows{w, xq, xs}, M, w.N, n0, n1);
        else
            streaming_avx2(out, Bf16Rows{w, inp}, M, w.N, n0, n1);
        return;
    }
#endif
    if (xq)
        streaming_portable_w8a8(out, xq, xs, w, M, n0, n1);
    else
        streaming_portable(out, inp, w, M, n0, n1);
}

}  // namespace

void matmul_quantized_forward(ThreadPool& pool, float* out, const float* inp, const QuantizedMatrix& w,
                              const float* bias, int M, bool accumulate, bool portable) {
    const int N = w.N, K = w.K;
    if (M <= 0 || N <= 0) return;
    const bool streaming = M <= kMatmulStreamingRows;
    std::vector<int8_t> xq;
    std::vector<float> xs;
    if (quantizes_activations(w, M)) {  // once per call, shared by the threads
        xq.resize(static_cast<long>(M) * K);
        xs.resize(static_cast<long>(M) * w.groups());
        quantize_activations(inp, M, K, xq.data(), xs.data());
    }
    const int parts = pool.size();
    pool.parallel_for(parts, [&](int task, int) {
        // Decoding slices start on 16-float (64-byte) boundaries so threads never share a cache line of `out`;
        // prompt slices on panel boundaries, so each panel is the same sgemm call whatever the thread count.
        const Range r = split_range(N, parts, streaming ? 16 : kPanelRows, task);
        if (r.begin >= r.end) return;
        if (streaming) {
            matmul_init_columns(out, bias, M, N, r.begin, r.end, accumulate);
            streaming_columns(out, inp, xq.empty() ? nullptr : xq.data(), xs.data(), w, M, r.begin, r.end, portable);
            return;
        }
        std::vector<float> panel(static_cast<long>(kPanelRows) * K);  // (kPanelRows, K)
        for (int n = r.begin; n < r.end; n += kPanelRows) {
            const int n_end = std::min(r.end, n + kPanelRows);
            dequantize_rows(w, n, n_end, panel.data());
            blas::sgemm(false, true, M, n_end - n, K, 1.0f, inp, K, panel.data(), K, accumulate ? 1.0f : 0.0f,
                        out + n, N);
        }
        if (bias) matmul_init_columns(out, bias, M, N, r.begin, r.end, true);
    });
}

void matmul_quantized_forward_naive(float* out, const float* inp, const QuantizedMatrix& w, const float* bias, int M,
                                    bool accumulate, bool int8_activations) {
    std::vector<float> x(inp, inp + static_cast<long>(M) * w.K);
    if (int8_activations) {  // x = the rows as quantize_activations gives them, widened back to float32
        std::vector<int8_t> q(x.size());
        std::vector<float> scales(static_cast<long>(M) * w.groups());
        quantize_activations(inp, M, w.K, q.data(), scales.data());
        for (int m = 0; m < M; ++m)
            for (int k = 0; k < w.K; ++k) {
                const long i = static_cast<long>(m) * w.K + k;
                x[i] = q[i] * scales[static_cast<long>(m) * w.groups() + k / kInt8GroupSize];
            }
    }
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < w.N; ++n) {
            double sum = bias ? bias[n] : 0.0;
            for (int k = 0; k < w.K; ++k) sum += static_cast<double>(x[static_cast<long>(m) * w.K + k]) * w.at(n, k);
            float& y = out[static_cast<long>(m) * w.N + n];
            y = static_cast<float>(accumulate ? y + sum : sum);
        }
}

}  // namespace gptcore
