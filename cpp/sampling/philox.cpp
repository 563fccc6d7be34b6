#include "sampling/philox.h"

namespace gptcore {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
    const uint64_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // round multipliers
    const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // key schedule (Weyl) increments
    for (int round = 0; round < 10; ++round) {
        const uint64_t p0 = M0 * c[0], p1 = M1 * c[2];
        c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
             static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
        k = {k[0] + W0, k[1] + W1};
    }
    return c;
}

double philox_uniform(uint64_t seed, uint64_t stream, uint64_t step) {
    const auto r = philox4x32_10({static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32),
                                  static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)},
                                 {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
    const uint64_t bits = (static_cast<uint64_t>(r[0]) << 32 | r[1]) >> 11;  // 53 bits
    return static_cast<double>(bits) * (1.0 / 9007199254740992.0);        // / 2^53
}

}  // namespace gptcore
