// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based
// generator. Every draw is a pure function of (key, counter), so a sequence's n-th draw depends only on its
// seed, its stream and n, never on what else is being sampled or in which order. No global state.
#pragma once

#include <array>
#include <cstdint>

namespace gptcore {

// The 10-round Philox4x32 bijection of `counter` under `key`.
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// A uniform double in [0, 1) with 53 random bits: draw number `step` of stream `stream` under `seed`.
double philox_uniform(uint64_t seed, uint64_t stream, uint64_t step);

}  // namespace gptcore
