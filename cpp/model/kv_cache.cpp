#include "model/kv_cache.h"

#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>

#include "model/gpt.h"

namespace gptcore {

const char* kv_format_name(KVFormat format) { return format == KVFormat::fp16 ? "float16" : "float32"; }

KVFormat kv_format_from_name(const std::string& name) {
    if (name == "float32") return KVFormat::fp32;
    if (name == "float16") return KVFormat::fp16;
    throw std::invalid_argument("KV cache dtype must be 'float32' or 'float16', got '" + name + "'");
}

KVCache::KVCache(const GPTConfig& config, int n_slots, int capacity, KVFormat format)
    : n_layer_((config.validate(), config.n_layer)),
      n_slots_(n_slots),
      n_head_(config.n_head),
      capacity_(capacity),
      head_dim_(config.n_embd / config.n_head),
      format_(format),
      element_size_(format == KVFormat::fp16 ? sizeof(uint16_t) : sizeof(float)) {
    if (n_slots < 1) throw std::invalid_argument("KV cache needs n_slots >= 1, got " + std::to_string(n_slots));
    if (capacity < 1 || capacity > config.n_positions)
        throw std::invalid_argument("KV cache capacity must be in [1, n_positions=" +
                                    std::to_string(config.n_positions) + "], got " + std::to_string(capacity));
    count_ = static_cast<std::size_t>(n_layer_) * n_slots_ * n_head_ * capacity_ * head_dim_;
    k_ = std::calloc(count_, element_size_);
    v_ = std::calloc(count_, element_size_);
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

std::string KVCache::mismatch(const GPTConfig& config) const {
    std::string what;
    auto compare = [&](const char* name, int mine, int model) {
        if (mine != model)
            what += std::string(what.empty() ? "" : ", ") + name + " " + std::to_string(mine) + " (the model has " +
                    std::to_string(model) + ")";
    };
    compare("n_layer", n_layer_, config.n_layer);
    compare("n_head", n_head_, config.n_head);
    compare("head_dim", head_dim_, config.head_dim());
    return what;
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
