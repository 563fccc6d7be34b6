#include "runtime/thread_pool.h"

#include <algorithm>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GPTCORE_PAUSE() _mm_pause()
#else
#define GPTCORE_PAUSE() std::this_thread::yield()
#endif

namespace gptcore {

namespace {
// ~50-100 us of spinning before a worker sleeps: longer than the gaps between the parallel loops of one
// forward pass, short enough not to burn a core between calls from Python.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads) {
    if (n_threads < 1) throw std::invalid_argument("n_threads must be >= 1, got " + std::to_string(n_threads));
    for (int t = 1; t < n_threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::run_tasks(int thread) {
    for (;;) {
        int task = next_task_.fetch_add(1, std::memory_order_acq_rel);
        if (task >= n_tasks_) return;
        try {
            (*fn_)(task, thread);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex_);
            if (!error_) error_ = std::current_exception();
        }
    }
}

void ThreadPool::worker_loop(int thread) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
            GPTCORE_PAUSE();
            gen = generation_.load(std::memory_order_acquire);
        }
        if (gen == seen) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            gen = generation_.load(std::memory_order_acquire);
        }
        seen = gen;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (stop_) return;
        }
        run_tasks(thread);
        pending_workers_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::parallel_for(int n_tasks, const std::function<void(int, int)>& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
        for (int task = 0; task < n_tasks; ++task) fn(task, 0);
        return;
    }
    fn_ = &fn;
    n_tasks_ = n_tasks;
    error_ = nullptr;
    next_task_.store(0, std::memory_order_relaxed);
    // Every worker takes part in every loop and reports back, so no worker can still be inside the
    // previous loop when the next one is published.
    pending_workers_.store(n_threads_ - 1, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_tasks(0);
    while (pending_workers_.load(std::memory_order_acquire) != 0) GPTCORE_PAUSE();
    if (error_) std::rethrow_exception(error_);
}

Range split_range(int n, int parts, int align, int i) {
    int blocks = (n + align - 1) / align;
    int per = blocks / parts, extra = blocks % parts;
    int b0 = i * per + std::min(i, extra);
    int b1 = b0 + per + (i < extra ? 1 : 0);
    return {std::min(n, b0 * align), std::min(n, b1 * align)};
}

}  // namespace gptcore
