#include "model/kv_cache.h"

#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

#include "model/gpt.h"

namespace gptcore {

KVCache::KVCache(const GPTConfig& config, int n_slots, int capacity)
    : n_layer_(config.n_layer),
      n_slots_(n_slots),
      n_head_(config.n_head),
      capacity_(capacity),
      head_dim_(config.n_embd / config.n_head) {
    if (n_slots < 1) throw std::invalid_argument("KV cache needs n_slots >= 1, got " + std::to_string(n_slots));
    if (capacity < 1 || capacity > config.n_positions)
        throw std::invalid_argument("KV cache capacity must be in [1, n_positions=" +
                                    std::to_string(config.n_positions) + "], got " + std::to_string(capacity));
    count_ = static_cast<std::size_t>(n_layer_) * n_slots_ * n_head_ * capacity_ * head_dim_;
    k_ = static_cast<float*>(std::calloc(count_, sizeof(float)));
    v_ = static_cast<float*>(std::calloc(count_, sizeof(float)));
    if (!k_ || !v_) {
        std::free(k_);
        std::free(v_);
        throw std::bad_alloc();
    }
    length_.assign(n_slots, 0);
}

KVCache::~KVCache() {
    std::free(k_);
    std::free(v_);
}

void KVCache::check_slot(int slot) const {
    if (slot < 0 || slot >= n_slots_)
        throw std::out_of_range("KV cache slot " + std::to_string(slot) + " out of range [0, " +
                                std::to_string(n_slots_) + ")");
}

int KVCache::length(int slot) const {
    check_slot(slot);
    return length_[slot];
}

void KVCache::advance(int slot, int n) {
    check_slot(slot);
    if (n < 0 || length_[slot] + n > capacity_)
        throw std::out_of_range("KV cache slot " + std::to_string(slot) + " cannot grow by " + std::to_string(n) +
                                " beyond its capacity " + std::to_string(capacity_));
    length_[slot] += n;
}

void KVCache::set_length(int slot, int length) {
    check_slot(slot);
    if (length < 0 || length > length_[slot])
        throw std::out_of_range("KV cache slot " + std::to_string(slot) + " can be truncated to [0, " +
                                std::to_string(length_[slot]) + "], not " + std::to_string(length));
    length_[slot] = length;
}

}  // namespace gptcore
