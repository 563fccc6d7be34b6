#include "runtime/memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <new>
#include <vector>

#include "kernels/vector_math.h"
#include "runtime/thread_pool.h"

namespace gptcore {

namespace {

// 16 independent partial sums keep the loads, not the adds, the bottleneck.
GPTCORE_CLONES
float sum_floats(const float* x, std::size_t n) {
    float acc[16] = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; ++j) acc[j] += x[i + j];
    float s = 0.0f;
    for (int j = 0; j < 16; ++j) s += acc[j];
    return s;
}

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, std::size_t bytes, int repeats) {
    const std::size_t n = bytes / sizeof(float) / 1024 * 1024;
    std::vector<float> buffer(n, 1.0f);  // written once, so every page is resident
    std::vector<float> sums(pool.size());
    double best = 0.0;
    for (int r = 0; r < std::max(1, repeats); ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        pool.parallel_for(pool.size(), [&](int task, int) {
            const std::size_t per = n / pool.size();
            sums[task] = sum_floats(buffer.data() + task * per, task + 1 == pool.size() ? n - task * per : per);
        });
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::max(best, n * sizeof(float) / s / 1e9);
    }
    volatile float sink = sums[0];
    (void)sink;
    return best;
}

}  // namespace gptcore
