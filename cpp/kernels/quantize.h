// Reduced-precision copies of weight matrices, made once at load time:
//   bf16: the upper 16 bits of float32, rounded to nearest even (8 bits of mantissa, float32's range);
//   int8: symmetric, one float32 scale per group of kInt8GroupSize weights along K: w = q * scale, q in [-127, 127].
// Both are stored (N, K), each output's K weights contiguous, whatever the checkpoint's layout: the decoding
// kernels (kernels/matmul_quantized) read one output's weights as one run of memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
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

// A (N, K) weight matrix in bf16 or int8, owning its storage.
struct QuantizedMatrix {
    WeightFormat format = WeightFormat::bf16;
    int N = 0;                   // outputs
    int K = 0;                   // inputs
    std::vector<uint16_t> bf16;  // (N, K) when bf16
    std::vector<int8_t> int8;    // (N, K) when int8
    std::vector<float> scales;   // (N, groups()) when int8

    int groups() const { return (K + kInt8GroupSize - 1) / kInt8GroupSize; }
    std::size_t nbytes() const {
        return bf16.size() * sizeof(uint16_t) + int8.size() + scales.size() * sizeof(float);
    }
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

// out (n1 - n0, K) = the float32 weights of outputs [n0, n1).
void dequantize_rows(const QuantizedMatrix& w, int n0, int n1, float* out);

}  // namespace gptcore
