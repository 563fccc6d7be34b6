#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/softmax.h"
#include "kernels/vector_math.h"
#include "runtime/blas.h"

namespace gptcore {

namespace {

// With this many queries (a prompt) the scores and the weighted sum are two sgemm calls;
// below it (decoding) plain dot products and axpys over the cache are faster.
constexpr int kGemmQueries = 8;

inline int first_key(int pos, int window) { return window > 0 ? std::max(0, pos - window + 1) : 0; }

GPTCORE_CLONES
void attention_rows(float* out, int ldo, const float* q, int ldq, const float* k_cache, const float* v_cache,
                    int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs) {
    const int n_kv = pos0 + n_q;
    for (int i = 0; i < n_q; ++i) {
        const int pos = pos0 + i, lo = first_key(pos, window), n = pos - lo + 1;
        const float* qi = q + static_cast<long>(i) * ldq;
        float* s = scratch;
        for (int j = 0; j < n; ++j) s[j] = scale * dot(qi, k_cache + static_cast<long>(lo + j) * hd, hd);
        softmax_forward(s, 1, n);
        float* o = out + static_cast<long>(i) * ldo;
        std::fill(o, o + hd, 0.0f);
        for (int j = 0; j < n; ++j) axpy(o, s[j], v_cache + static_cast<long>(lo + j) * hd, hd);
        if (probs) {
            float* row = probs + static_cast<long>(i) * n_kv;
            std::fill(row, row + n_kv, 0.0f);
            std::copy(s, s + n, row + lo);
        }
    }
}

}  // namespace

void attention_forward(float* out, int ldo, const float* q, int ldq, const float* k_cache, const float* v_cache,
                       int n_q, int pos0, int hd, float scale, int window, float* scratch, float* probs) {
    if (n_q < kGemmQueries) {
        attention_rows(out, ldo, q, ldq, k_cache, v_cache, n_q, pos0, hd, scale, window, scratch, probs);
        return;
    }
    const int n_kv = pos0 + n_q;
    // scores (n_q, n_kv) = scale * q k^T; the masked entries are computed and then zeroed.
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
