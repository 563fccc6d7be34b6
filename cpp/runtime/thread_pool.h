// A fixed set of worker threads that run one parallel loop at a time.
// The calling thread takes part, so a pool of n threads starts n - 1 workers.
// Workers spin briefly before sleeping: decoding runs ~100 short parallel loops per token, and waking a
// sleeping thread costs more than most of them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gptcore {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls fn(task, thread) once for every task in [0, n_tasks), spread over the threads; `thread` is in
    // [0, size()) and identifies per-thread scratch memory. Returns when every task is done.
    // The first exception a task throws is rethrown here after all tasks finish.
    void parallel_for(int n_tasks, const std::function<void(int task, int thread)>& fn);

private:
    void worker_loop(int thread);
    void run_tasks(int thread);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_workers_{0};
    std::atomic<int> next_task_{0};
    int n_tasks_ = 0;
    const std::function<void(int, int)>* fn_ = nullptr;
    std::exception_ptr error_;
    std::mutex error_mutex_;
    bool stop_ = false;
};

// Splits [0, n) into at most `parts` contiguous ranges whose boundaries are multiples of `align`.
// Range i is [begin, end) = split_range(n, parts, align, i).
struct Range {
    int begin, end;
};
Range split_range(int n, int parts, int align, int i);

}  // namespace gptcore
