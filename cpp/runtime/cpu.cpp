#include "runtime/cpu.h"

#include <sched.h>

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace gptcore {

namespace {

SimdLevel detect() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return SimdLevel::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::avx2;
#endif
    return SimdLevel::generic;
}

}  // namespace

SimdLevel simd_detected() {
    static const SimdLevel detected = detect();
    return detected;
}

const char* simd_level_name(SimdLevel level) {
    switch (level) {
        case SimdLevel::avx512: return "avx512";
        case SimdLevel::avx2: return "avx2";
        default: return "generic";
    }
}

int physical_cores() {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (sched_getaffinity(0, sizeof(mask), &mask) != 0) {
        unsigned n = std::thread::hardware_concurrency();
        return n > 0 ? static_cast<int>(n) : 1;
    }
    // Count distinct (package, core) pairs among the CPUs this process may run on.
    std::set<std::pair<int, int>> cores;
    int logical = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &mask)) continue;
        ++logical;
        const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
        int package = -1, core = -1;
        std::ifstream(base + "physical_package_id") >> package;
        std::ifstream(base + "core_id") >> core;
        if (package < 0 || core < 0) return logical > 0 ? CPU_COUNT(&mask) : 1;  // no topology: trust the mask
        cores.insert({package, core});
    }
    return cores.empty() ? 1 : static_cast<int>(cores.size());
}

}  // namespace gptcore
