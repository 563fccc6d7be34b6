// IEEE float16 ("half") storage for the KV cache: 10 bits of mantissa (3 more than bf16) and a range up to
// 65504. Values are rounded to nearest even; larger magnitudes become +-inf, NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace gptcore {

// float32 -> float16 bits, round to nearest even (also into the subnormal range); the reference the vector
// path is tested against.
inline uint16_t half_from_float(float value) {
    uint32_t f;
    std::memcpy(&f, &value, sizeof(f));
    const uint32_t sign = (f >> 16) & 0x8000u;
    f &= 0x7fffffffu;
    if (f >= (143u << 23))  // >= 2^16: inf, or NaN (kept quiet)
        return static_cast<uint16_t>(sign | (f > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (f < (113u << 23)) {  // below 2^-14: a subnormal half or zero; the float adder rounds the 24 - 14 bits away
        const uint32_t magic_bits = 126u << 23;  // 0.5f: its ulp is 2^-24, the half subnormal step
        float magic, x;
        std::memcpy(&magic, &magic_bits, sizeof(magic));
        std::memcpy(&x, &f, sizeof(x));
        x += magic;
        uint32_t bits;
        std::memcpy(&bits, &x, sizeof(bits));
        return static_cast<uint16_t>(sign | (bits - magic_bits));
    }
    const uint32_t odd = (f >> 13) & 1u;  // ties go to the even mantissa
    f += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + odd;
    return static_cast<uint16_t>(sign | (f >> 13));  // a carry into the exponent may give inf (65520 and above)
}

inline float float_from_half(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1fu) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else {  // zero or subnormal: mantissa * 2^-24, exact in float32
        const float x = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
        std::memcpy(&bits, &x, sizeof(bits));
        bits |= sign;
    }
    float x;
    std::memcpy(&x, &bits, sizeof(x));
    return x;
}

// Whether this CPU has the F16C conversion instructions (with AVX2 and FMA, as every AVX2 machine does).
bool f16c_supported();

// n values converted; F16C instructions where the CPU has them (AVX2 machines do), else the scalar functions
// above, which give the same bits (NaN payloads aside). portable forces the scalar path (for tests).
void halves_from_floats(const float* x, uint16_t* out, long n, bool portable = false);
void floats_from_halves(const uint16_t* h, float* out, long n, bool portable = false);

}  // namespace gptcore
