#pragma once

namespace gptcore {

class ThreadPool;

// How a weight matrix of a layer with K inputs and N outputs is stored, row-major.
enum class WeightLayout {
    in_out,  // (K, N): GPT-2's Conv1D weights
    out_in,  // (N, K): nn.Linear weights and the tied embedding used as the LM head
};

// out (M, N) = inp (M, K) @ weight + bias, or out += ... when `accumulate` (fuses the residual add).
// bias (N) may be null. Prompts and batches (M > kMatmulStreamingRows) go to OpenBLAS sgemm; a few rows,
// as in decoding, go to kernels that stream the weights once from memory for all rows.
// The N columns are split over the pool's threads; OpenBLAS runs single-threaded inside each.
constexpr int kMatmulStreamingRows = 8;
void matmul_forward(ThreadPool& pool, float* out, const float* inp, const float* weight, WeightLayout layout,
                    const float* bias, int M, int K, int N, bool accumulate);
void matmul_forward_naive(float* out, const float* inp, const float* weight, WeightLayout layout, const float* bias,
                          int M, int K, int N, bool accumulate);

// out[:, n0:n1] (M, N) = bias[n0:n1] (or 0), or += bias when accumulating: the start of a column slice's sums.
void matmul_init_columns(float* out, const float* bias, int M, int N, int n0, int n1, bool accumulate);

}  // namespace gptcore
