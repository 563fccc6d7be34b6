#include "kernels/matmul.h"

#include <algorithm>

#include "kernels/vector_math.h"
#include "runtime/blas.h"
#include "runtime/thread_pool.h"

namespace gptcore {

namespace {

// y[n] += x0 w0[n] + x1 w1[n] + x2 w2[n] + x3 w3[n]: four weight rows per pass over y, so y is loaded and
// stored once per four rows of W.
inline void axpy4(float* __restrict y, const float* __restrict w0, const float* __restrict w1,
                  const float* __restrict w2, const float* __restrict w3, float x0, float x1, float x2, float x3,
                  int n) {
    for (int i = 0; i < n; ++i) y[i] += x0 * w0[i] + x1 * w1[i] + x2 * w2[i] + x3 * w3[i];
}

// Columns [n0, n1) of out (M, N) += inp[:, k0:k1] @ W[k0:k1, :], W (K, N). Walks W row by row (contiguous
// runs of n1 - n0 floats) and reuses each group of four rows for all M inputs while it is in cache.
GPTCORE_CLONES
void streaming_in_out_block(float* out, const float* inp, const float* W, int M, int K, int N, int k0, int k1,
                            int n0, int n1) {
    const int width = n1 - n0;
    int k = k0;
    for (; k + 4 <= k1; k += 4) {
        const float* w = W + static_cast<long>(k) * N + n0;
        for (int m = 0; m < M; ++m) {
            const float* x = inp + static_cast<long>(m) * K + k;
            axpy4(out + static_cast<long>(m) * N + n0, w, w + N, w + 2L * N, w + 3L * N, x[0], x[1], x[2], x[3],
                  width);
        }
    }
    for (; k < k1; ++k)
        for (int m = 0; m < M; ++m)
            axpy(out + static_cast<long>(m) * N + n0, inp[static_cast<long>(m) * K + k],
                 W + static_cast<long>(k) * N + n0, width);
}

// Four to eight rows (fewer go by row chunks, streaming_in_out_chunks) in column tiles: M output rows of
// kStreamingTile floats stay in L1 across the whole K loop, where full-width rows (M x N/threads floats, 48 KB at
// M = 8) spill to L2 on every pass. Decode steps at the 124M shape, 2 threads: 15% less time at 8 rows, 5% at 4.
constexpr int kStreamingTile = 256;

void streaming_in_out(float* out, const float* inp, const float* W, int M, int K, int N, int n0, int n1) {
    for (int c0 = n0; c0 < n1; c0 += kStreamingTile)
        streaming_in_out_block(out, inp, W, M, K, N, 0, K, c0, std::min(c0 + kStreamingTile, n1));
}

// Columns [n0, n1) of out (M, N) += inp (M, K) @ W^T, W (N, K): one dot product per output, each row of W
// read from memory once and reused for all M inputs.
GPTCORE_CLONES
void streaming_out_in(float* out, const float* inp, const float* W, int M, int K, int N, int n0, int n1) {
    for (int n = n0; n < n1; ++n) {
        const float* w = W + static_cast<long>(n) * K;
        for (int m = 0; m < M; ++m) out[static_cast<long>(m) * N + n] += dot(inp + static_cast<long>(m) * K, w, K);
    }
}

}  // namespace

void matmul_init_columns(float* out, const float* bias, int M, int N, int n0, int n1, bool accumulate) {
    for (int m = 0; m < M; ++m) {
        float* y = out + static_cast<long>(m) * N;
        for (int n = n0; n < n1; ++n) y[n] = (accumulate ? y[n] : 0.0f) + (bias ? bias[n] : 0.0f);
    }
}

// Decoding one to three rows over W (K, N) by row chunks: chunk c holds rows [c kChunkRows, (c + 1) kChunkRows)
// of W, one contiguous run of memory, and sums them into its own partial outputs (M, N); the partials are then
// added in chunk order. Splitting by columns instead gave each thread short strided runs of every row (1.5 KiB
// of each of 3072 rows for the MLP projection on 2 threads), which the prefetchers follow less well: that
// projection read 12-18 GB/s, by chunks 24 GB/s, and a 124M fp32 decode step takes 7-9% less time. The chunks
// do not depend on the thread count, so neither do the sums.
constexpr int kChunkRows = 64;

void streaming_in_out_chunks(ThreadPool& pool, float* out, const float* inp, const float* W, const float* bias,
                             int M, int K, int N, bool accumulate) {
    const int chunks = (K + kChunkRows - 1) / kChunkRows;
    static thread_local std::vector<float> partial_buffer;  // kept between calls on the calling thread
    partial_buffer.resize(static_cast<std::size_t>(chunks) * M * N);
    float* partial = partial_buffer.data();  // (chunks, M, N); the pool's threads see this pointer, not their own
                                             // thread_local
    pool.parallel_for(chunks, [&](int c, int) {
        const int k0 = c * kChunkRows;
        float* p = partial + static_cast<long>(c) * M * N;
        std::fill(p, p + static_cast<long>(M) * N, 0.0f);
        streaming_in_out_block(p, inp, W, M, K, N, k0, std::min(K, k0 + kChunkRows), 0, N);
    });
    const int parts = pool.size();
    pool.parallel_for(parts, [&](int task, int) {
        const Range r = split_range(N, parts, 16, task);
        if (r.begin >= r.end) return;
        matmul_init_columns(out, bias, M, N, r.begin, r.end, accumulate);
        for (int c = 0; c < chunks; ++c)
            for (int m = 0; m < M; ++m) {
                float* y = out + static_cast<long>(m) * N;
                const float* p = partial + (static_cast<long>(c) * M + m) * N;
                for (int n = r.begin; n < r.end; ++n) y[n] += p[n];
            }
    });
}

void matmul_forward(ThreadPool& pool, float* out, const float* inp, const float* weight, WeightLayout layout,
                    const float* bias, int M, int K, int N, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (M < 4 && layout == WeightLayout::in_out)
        return streaming_in_out_chunks(pool, out, inp, weight, bias, M, K, N, accumulate);
    const int parts = pool.size();
    pool.parallel_for(parts, [&](int task, int) {
        // Slices start on 16-float (64-byte) boundaries so threads never share a cache line of `out`.
        const Range r = split_range(N, parts, 16, task);
        if (r.begin >= r.end) return;
        if (M <= kMatmulStreamingRows) {
            matmul_init_columns(out, bias, M, N, r.begin, r.end, accumulate);
            if (layout == WeightLayout::in_out)
                streaming_in_out(out, inp, weight, M, K, N, r.begin, r.end);
            else
                streaming_out_in(out, inp, weight, M, K, N, r.begin, r.end);
            return;
        }
        const bool transposed = layout == WeightLayout::out_in;
        const float* B = transposed ? weight + static_cast<long>(r.begin) * K : weight + r.begin;
        blas::sgemm(false, transposed, M, r.end - r.begin, K, 1.0f, inp, K, B, transposed ? K : N,
                    accumulate ? 1.0f : 0.0f, out + r.begin, N);
        if (bias) matmul_init_columns(out, bias, M, N, r.begin, r.end, true);
    });
}

void matmul_forward_naive(float* out, const float* inp, const float* weight, WeightLayout layout, const float* bias,
                          int M, int K, int N, bool accumulate) {
    for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
            double sum = bias ? bias[n] : 0.0;
            for (int k = 0; k < K; ++k) {
                float w = layout == WeightLayout::in_out ? weight[static_cast<long>(k) * N + n]
                                                         : weight[static_cast<long>(n) * K + k];
                sum += static_cast<double>(inp[static_cast<long>(m) * K + k]) * w;
            }
            float& y = out[static_cast<long>(m) * N + n];
            y = static_cast<float>(accumulate ? y + sum : sum);
        }
}

}  // namespace gptcore
