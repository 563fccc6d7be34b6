#pragma once

#include "kernels/quantize.h"

namespace gptcore {

class ThreadPool;

// out (M, N) = inp (M, K) @ W^T + bias, or out += ... when `accumulate`; W a bf16 or int8 QuantizedMatrix (N, K),
// bias (N) or null. As matmul_forward: the N columns are split over the pool's threads, each output is summed by
// one thread in a fixed order, so results do not depend on the thread count.
// - M <= kMatmulStreamingRows (decoding): each output's weights are read once, widened to float32 in registers
//   and used for all M rows: bound by memory bandwidth, so 2 or 3.8 bytes fewer per weight is the speed-up.
//   AVX2 + FMA intrinsics where the CPU has them, else a portable loop (`portable` forces it, for tests).
//   AVX-512 BF16 / VNNI paths are not written: no machine to test them on.
// - More rows (prompts): panels of weights are widened to float32 and multiplied with OpenBLAS sgemm. The
//   widening costs one pass over the weights, which M > 8 rows of sgemm amortise; int8 dot products would need
//   the activations quantized too, losing accuracy for a prompt step that is compute-bound either way.
void matmul_quantized_forward(ThreadPool& pool, float* out, const float* inp, const QuantizedMatrix& weight,
                              const float* bias, int M, bool accumulate, bool portable = false);
void matmul_quantized_forward_naive(float* out, const float* inp, const QuantizedMatrix& weight, const float* bias,
                                    int M, bool accumulate);

}  // namespace gptcore
