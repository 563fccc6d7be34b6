#pragma once

#include "kernels/quantize.h"

namespace gptcore {

class ThreadPool;

// out (M, N) = inp (M, K) @ W^T + bias, or out += ... when `accumulate`; W a bf16 or int8 QuantizedMatrix (N, K),
// bias (N) or null. As matmul_forward: the N columns are split over the pool's threads, each output is summed by
// one thread in a fixed order, so results do not depend on the thread count.
// - M <= kMatmulStreamingRows (decoding): each output's weights are read once and used for all M rows: bound by
//   memory bandwidth, so 2 or 3.8 bytes fewer per weight is the speed-up. bf16 weights are widened to float32 in
//   registers. int8 weights are multiplied as integers with the input rows quantized the same way
//   (quantize_activations: int8, one scale per group of 64), each group's integer dot product scaled by the
//   weight's and the row's scale: widening every weight to float32 made int8 decoding compute-bound.
//   AVX2 + FMA intrinsics where the CPU has them, else a portable loop (`portable` forces it, for tests); both
//   compute the same thing (exact integer sums; float rounding of the per-group sums aside).
//   AVX-512 BF16 / VNNI paths are not written: no machine to test them on.
// - More rows (prompts): panels of weights are widened to float32 and multiplied with OpenBLAS sgemm. The
//   widening costs one pass over the weights, which M > 8 rows of sgemm amortise; int8 dot products would need
//   the activations quantized too, losing accuracy for a prompt step that is compute-bound either way.
void matmul_quantized_forward(ThreadPool& pool, float* out, const float* inp, const QuantizedMatrix& weight,
                              const float* bias, int M, bool accumulate, bool portable = false);
// Whether matmul_quantized_forward quantizes the input rows (int8 weights, decoding).
inline bool quantizes_activations(const QuantizedMatrix& weight, int M) {
    return weight.format == WeightFormat::int8 && M <= kMatmulStreamingRows;
}
// The reference, in double: with int8_activations, of the input rows quantized by quantize_activations (what
// the fast path computes when quantizes_activations), else of the float32 rows.
void matmul_quantized_forward_naive(float* out, const float* inp, const QuantizedMatrix& weight, const float* bias,
                                    int M, bool accumulate, bool int8_activations = false);

}  // namespace gptcore
