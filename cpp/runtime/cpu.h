// What the CPU offers, for reporting and for kernels that dispatch by hand.
// Plain-loop kernels get AVX-512 / AVX2 / baseline versions from GPTCORE_CLONES (kernels/vector_math.h),
// chosen by the loader, so one build runs on any x86-64 machine.
#pragma once

namespace gptcore {

enum class SimdLevel { generic = 0, avx2 = 1, avx512 = 2 };

// The best level this CPU supports (AVX2 needs FMA too; AVX-512 means F + BW + VL + DQ).
SimdLevel simd_detected();
const char* simd_level_name(SimdLevel level);

// Physical cores available to this process (hyper-threads of one core count once).
int physical_cores();

}  // namespace gptcore
