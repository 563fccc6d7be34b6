// Reduced-precision copies of weight matrices, made once at load time:
//   bf16: the upper 16 bits of float32, rounded to nearest even (8 bits of mantissa, float32's range);
//   int8: symmetric, one float32 scale per group of kInt8GroupSize weights along K: w = q * scale, q in [-127, 127].
// Both are stored (N, K), each output's K weights contiguous, whatever the checkpoint's layout: the decoding
// kernels (kernels/matmul_quantized) read one output's weights as one run of memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"

namespace gptcore {

class ThreadPool;

enum class WeightFormat { fp32, bf16, int8 };

// "fp32", "bf16" or "int8"; weight_format_from_name throws std::invalid_argument listing them.
const char* weight_format_name(WeightFormat format);
WeightFormat weight_format_from_name(const std::string& name);

// 64 weights share a scale: one large weight coarsens only its group, and the float32 scales add 1/16 byte
// per weight (1.06 bytes per weight in all, 3.8x fewer than float32). A multiple of 32, the kernels' block, so
// a block of 32 weights has one scale.
constexpr int kInt8GroupSize = 64;
static_assert(kInt8GroupSize % 32 == 0, "the decoding kernels read 32 weights under one scale");

// Groups of kInt8GroupSize along K (the last one may be short): int8 scales per row.
constexpr int int8_groups(int K) { return (K + kInt8GroupSize - 1) / kInt8GroupSize; }

// float32 -> bf16, round to nearest even; NaN stays NaN (quiet).
inline uint16_t bf16_from_float(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}

inline float float_from_bf16(uint16_t h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float x;
    std::memcpy(&x, &bits, sizeof(x));
    return x;
}

// A (N, K) weight matrix in bf16 or int8. quantize() makes one that owns its storage (shared by copies);
// borrow() one that points into the caller's memory, e.g. a memory-mapped converted-weights file, which must
// outlive it.
struct QuantizedMatrix {
    WeightFormat format = WeightFormat::bf16;
    int N = 0;                       // outputs
    int K = 0;                       // inputs
    const uint16_t* bf16 = nullptr;  // (N, K) when bf16
    const int8_t* int8 = nullptr;    // (N, K) when int8
    const float* scales = nullptr;   // (N, groups()) when int8
    std::shared_ptr<const void> storage;  // what the pointers point into when owned; null when borrowed

    // The matrix over the caller's values ((N, K) uint16 bf16 bits or int8) and, for int8, scales (N, groups()).
    static QuantizedMatrix borrow(WeightFormat format, int N, int K, const void* values, const float* scales);

    int groups() const { return int8_groups(K); }
    static std::size_t nbytes_of(WeightFormat format, int N, int K) {
        const std::size_t n = static_cast<std::size_t>(N) * K;
        return format == WeightFormat::bf16 ? n * sizeof(uint16_t)
                                            : n + static_cast<std::size_t>(N) * int8_groups(K) * sizeof(float);
    }
    std::size_t nbytes() const { return nbytes_of(format, N, K); }
    // The weight of output n, input k, as float32: the definition the kernels are tested against.
    float at(int n, int k) const {
        const long i = static_cast<long>(n) * K + k;
        return format == WeightFormat::bf16 ? float_from_bf16(bf16[i])
                                            : int8[i] * scales[static_cast<long>(n) * groups() + k / kInt8GroupSize];
    }
};

// The bf16 or int8 copy of weight, (K, N) for layout in_out or (N, K) for out_in; rows split over the pool.
// An int8 scale is max |w| / 127 of its group, and q = w / scale rounded to nearest even (a zero group: 0, 0).
QuantizedMatrix quantize(ThreadPool& pool, const float* weight, WeightLayout layout, int K, int N,
                         WeightFormat format);

// Input rows quantized like int8 weights, for int8 x int8 decoding: each row's groups of kInt8GroupSize along K
// get scale = max |x| / 127 and q = x / scale rounded to nearest even (a zero group: 0, 0). x (M, K) -> q (M, K),
// scales (M, groups). A group holding inf or NaN gets q = 0 and a NaN scale, so its products are NaN, as they
// would be in float32.
void quantize_activations(const float* x, int M, int K, int8_t* q, float* scales);

// out (n1 - n0, K) = the float32 weights of outputs [n0, n1).
void dequantize_rows(const QuantizedMatrix& w, int n0, int n1, float* out);

}  // namespace gptcore
