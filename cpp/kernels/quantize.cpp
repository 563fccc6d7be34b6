#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include "kernels/vector_math.h"
#include "runtime/thread_pool.h"

namespace gptcore {

namespace {

// Rows converted per task: 32 rows of up to a few thousand floats stay in L2 while transposed and converted.
constexpr int kRowsPerTask = 32;

// out (n1 - n0, K) = outputs [n0, n1) of an in_out (K, N) weight: a transpose, one run of W's row at a time.
void gather_rows(const float* weight, int K, int N, int n0, int n1, float* out) {
    for (int k = 0; k < K; ++k) {
        const float* src = weight + static_cast<long>(k) * N + n0;
        for (int n = 0; n < n1 - n0; ++n) out[static_cast<long>(n) * K + k] = src[n];
    }
}

GPTCORE_CLONES
void bf16_rows(const float* rows, long count, uint16_t* out) {
    for (long i = 0; i < count; ++i) out[i] = bf16_from_float(rows[i]);
}

// One group of len values: scale = max |x| / 127 and q = x / scale rounded to nearest even (a zero group: 0, 0).
// False when the group holds inf or NaN: q is then 0 and the scale NaN.
bool quantize_group(const float* x, int len, int8_t* q, float* scale) {
    float amax = 0.0f;
    bool finite = true;  // NaN fails the comparison, so it is caught here and not lost in the max
    for (int k = 0; k < len; ++k) {
        amax = std::max(amax, std::fabs(x[k]));
        finite &= std::fabs(x[k]) <= std::numeric_limits<float>::max();
    }
    *scale = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
    for (int k = 0; k < len; ++k) q[k] = *scale > 0.0f ? static_cast<int8_t>(std::nearbyint(x[k] / *scale)) : 0;
    return finite;
}

// rows (n_rows, K), outputs first_row.., -> q (n_rows, K) and scales (n_rows, groups).
GPTCORE_CLONES
void int8_rows(const float* rows, int first_row, int n_rows, int K, int8_t* q, float* scales) {
    const int groups = int8_groups(K);
    for (int r = 0; r < n_rows; ++r)
        for (int g = 0; g < groups; ++g) {
            const long k0 = static_cast<long>(r) * K + g * kInt8GroupSize;
            const int len = std::min(kInt8GroupSize, K - g * kInt8GroupSize);
            if (!quantize_group(rows + k0, len, q + k0, scales + static_cast<long>(r) * groups + g))
                throw std::invalid_argument("a weight of output " + std::to_string(first_row + r) + " is not finite");
        }
}

}  // namespace

const char* weight_format_name(WeightFormat format) {
    switch (format) {
        case WeightFormat::bf16: return "bf16";
        case WeightFormat::int8: return "int8";
        default: return "fp32";
    }
}

WeightFormat weight_format_from_name(const std::string& name) {
    for (WeightFormat f : {WeightFormat::fp32, WeightFormat::bf16, WeightFormat::int8})
        if (name == weight_format_name(f)) return f;
    throw std::invalid_argument("dtype must be 'fp32', 'bf16' or 'int8', got '" + name + "'");
}

QuantizedMatrix QuantizedMatrix::borrow(WeightFormat format, int N, int K, const void* values, const float* scales) {
    if (format == WeightFormat::fp32) throw std::invalid_argument("a quantized matrix is bf16 or int8, not fp32");
    if (N <= 0 || K <= 0) throw std::invalid_argument("a quantized matrix needs N > 0 and K > 0");
    if (!values || (format == WeightFormat::int8 && !scales))
        throw std::invalid_argument(format == WeightFormat::int8 ? "an int8 matrix needs its values and its scales"
                                                                 : "a bf16 matrix needs its values");
    QuantizedMatrix w;
    w.format = format;
    w.N = N;
    w.K = K;
    if (format == WeightFormat::bf16) {
        w.bf16 = static_cast<const uint16_t*>(values);
    } else {
        w.int8 = static_cast<const int8_t*>(values);
        w.scales = scales;
    }
    return w;
}

QuantizedMatrix quantize(ThreadPool& pool, const float* weight, WeightLayout layout, int K, int N,
                         WeightFormat format) {
    if (format == WeightFormat::fp32) throw std::invalid_argument("quantize: the format must be bf16 or int8");
    QuantizedMatrix w;
    w.format = format;
    w.N = N;
    w.K = K;
    const long size = static_cast<long>(N) * K;
    // One block: the int8 scales first (float alignment), then the values.
    const long n_scales = format == WeightFormat::int8 ? static_cast<long>(N) * w.groups() : 0;
    auto block = std::make_shared<std::vector<float>>(n_scales + (format == WeightFormat::bf16 ? (size + 1) / 2
                                                                                               : (size + 3) / 4));
    float* scales = block->data();
    uint16_t* bf16 = format == WeightFormat::bf16 ? reinterpret_cast<uint16_t*>(block->data()) : nullptr;
    int8_t* int8 = format == WeightFormat::int8 ? reinterpret_cast<int8_t*>(block->data() + n_scales) : nullptr;
    w.bf16 = bf16;
    w.int8 = int8;
    w.scales = format == WeightFormat::int8 ? scales : nullptr;
    w.storage = block;
    const int tasks = (N + kRowsPerTask - 1) / kRowsPerTask;
    pool.parallel_for(tasks, [&](int task, int) {
        const int n0 = task * kRowsPerTask, n1 = std::min(N, n0 + kRowsPerTask);
        std::vector<float> tile;
        const float* rows = weight + static_cast<long>(n0) * K;
        if (layout == WeightLayout::in_out) {
            tile.resize(static_cast<long>(n1 - n0) * K);
            gather_rows(weight, K, N, n0, n1, tile.data());
            rows = tile.data();
        }
        const long first = static_cast<long>(n0) * K;
        if (format == WeightFormat::bf16)
            bf16_rows(rows, static_cast<long>(n1 - n0) * K, bf16 + first);
        else
            int8_rows(rows, n0, n1 - n0, K, int8 + first, scales + static_cast<long>(n0) * w.groups());
    });
    return w;
}

GPTCORE_CLONES
void quantize_activations(const float* x, int M, int K, int8_t* q, float* scales) {
    const int groups = int8_groups(K);
    for (int m = 0; m < M; ++m)
        for (int g = 0; g < groups; ++g) {
            const long k0 = static_cast<long>(m) * K + g * kInt8GroupSize;
            quantize_group(x + k0, std::min(kInt8GroupSize, K - g * kInt8GroupSize), q + k0,
                           scales + static_cast<long>(m) * groups + g);
        }
}

GPTCORE_CLONES
void dequantize_rows(const QuantizedMatrix& w, int n0, int n1, float* out) {
    const long first = static_cast<long>(n0) * w.K;
    if (w.format == WeightFormat::bf16) {
        const uint16_t* src = w.bf16 + first;
        for (long i = 0; i < static_cast<long>(n1 - n0) * w.K; ++i) out[i] = float_from_bf16(src[i]);
        return;
    }
    const int groups = w.groups();
    for (int n = n0; n < n1; ++n)
        for (int g = 0; g < groups; ++g) {
            const float scale = w.scales[static_cast<long>(n) * groups + g];
            const int k0 = g * kInt8GroupSize, k1 = std::min(w.K, k0 + kInt8GroupSize);
            const int8_t* q = w.int8 + static_cast<long>(n) * w.K;
            float* y = out + static_cast<long>(n - n0) * w.K;
            for (int k = k0; k < k1; ++k) y[k] = q[k] * scale;
        }
}

}  // namespace gptcore
