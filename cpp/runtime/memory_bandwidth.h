#pragma once

#include <cstddef>

namespace gptcore {

class ThreadPool;

// The machine's memory read bandwidth in GB/s: the best of `repeats` passes summing a buffer of `bytes`
// (much larger than the caches) split over the pool's threads. The roofline for decoding: a token costs
// at least (bytes of weights) / (this bandwidth).
double measure_read_bandwidth(ThreadPool& pool, std::size_t bytes, int repeats);

}  // namespace gptcore
