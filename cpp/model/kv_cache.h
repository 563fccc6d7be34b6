#pragma once

#include <cstddef>
#include <vector>

namespace gptcore {

struct GPTConfig;

// Keys and values of every layer for a set of sequences ("slots"), preallocated for `capacity` positions.
//   k, v   (n_layer, n_slots, n_head, capacity, head_dim)
// One head's keys are contiguous, so attention reads them as one (positions, head_dim) matrix.
// The memory comes from calloc: pages for positions never written are never touched and cost no RSS.
class KVCache {
public:
    KVCache(const GPTConfig& config, int n_slots, int capacity);
    ~KVCache();
    KVCache(const KVCache&) = delete;
    KVCache& operator=(const KVCache&) = delete;

    float* k(int layer, int slot, int head) { return k_ + offset(layer, slot, head); }
    float* v(int layer, int slot, int head) { return v_ + offset(layer, slot, head); }

    int n_slots() const { return n_slots_; }
    int capacity() const { return capacity_; }
    // Positions filled in a slot; the next token of that sequence goes to this position.
    int length(int slot) const;
    // Marks n more positions of a slot as filled (GPT::forward calls it once all layers are written).
    void advance(int slot, int n);
    // Truncates a slot to `length` positions (0 frees it for a new sequence).
    void set_length(int slot, int length);
    std::size_t bytes() const { return 2 * count_ * sizeof(float); }

private:
    std::size_t offset(int layer, int slot, int head) const {
        return ((static_cast<std::size_t>(layer) * n_slots_ + slot) * n_head_ + head) * capacity_ * head_dim_;
    }
    void check_slot(int slot) const;

    int n_layer_, n_slots_, n_head_, capacity_, head_dim_;
    std::size_t count_;
    float* k_ = nullptr;
    float* v_ = nullptr;
    std::vector<int> length_;
};

}  // namespace gptcore
