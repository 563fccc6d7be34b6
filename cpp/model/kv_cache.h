#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gptcore {

struct GPTConfig;

// How the cache stores keys and values: float32, or float16 (kernels/half.h), which halves the bytes that
// decoding reads per token of context. Attention widens float16 back to float32 before any arithmetic.
enum class KVFormat { fp32, fp16 };

// "float32" or "float16"; kv_format_from_name throws std::invalid_argument listing them.
const char* kv_format_name(KVFormat format);
KVFormat kv_format_from_name(const std::string& name);

// Keys and values of every layer for a set of sequences ("slots"), preallocated for `capacity` positions.
//   k, v   (n_layer, n_slots, n_head, capacity, head_dim)
// One head's keys are contiguous, so attention reads them as one (positions, head_dim) matrix.
// The memory comes from calloc: pages for positions never written are never touched and cost no RSS.
class KVCache {
public:
    KVCache(const GPTConfig& config, int n_slots, int capacity, KVFormat format = KVFormat::fp32);
    ~KVCache();
    KVCache(const KVCache&) = delete;
    KVCache& operator=(const KVCache&) = delete;

    KVFormat format() const { return format_; }
    // One head's keys / values, in the cache's format: float* for fp32, uint16_t* (float16 bits) for fp16.
    template <typename T>
    T* k(int layer, int slot, int head) { return static_cast<T*>(k_) + offset(layer, slot, head); }
    template <typename T>
    T* v(int layer, int slot, int head) { return static_cast<T*>(v_) + offset(layer, slot, head); }

    int n_slots() const { return n_slots_; }
    int capacity() const { return capacity_; }
    // Empty when the cache fits a model of this config, else what differs (n_layer, n_head, head_dim).
    std::string mismatch(const GPTConfig& config) const;
    // Positions filled in a slot; the next token of that sequence goes to this position.
    int length(int slot) const;
    // Marks n more positions of a slot as filled (GPT::forward calls it once all layers are written).
    void advance(int slot, int n);
    // Truncates a slot to `length` positions (0 frees it for a new sequence).
    void set_length(int slot, int length);
    std::size_t bytes() const { return 2 * count_ * element_size_; }

private:
    std::size_t offset(int layer, int slot, int head) const {
        return ((static_cast<std::size_t>(layer) * n_slots_ + slot) * n_head_ + head) * capacity_ * head_dim_;
    }
    void check_slot(int slot) const;

    int n_layer_, n_slots_, n_head_, capacity_, head_dim_;
    KVFormat format_;
    std::size_t element_size_;
    std::size_t count_;
    void* k_ = nullptr;
    void* v_ = nullptr;
    std::vector<int> length_;
};

}  // namespace gptcore
