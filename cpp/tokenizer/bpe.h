// Byte-pair encoding of one pre-tokenized piece: start from one token per byte and repeatedly merge the
// adjacent pair with the lowest merge rank (the leftmost one on ties) until no adjacent pair has a merge.
// This is the merge rule of GPT-2's encoder.py and of Hugging Face's BPE model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace gptcore {

// (left id, right id) -> (rank, merged id), in an open-addressing hash table (lookups are the hot path).
class MergeTable {
public:
    struct Merge {
        int32_t rank;  // position in the merges list: lower merges first
        int32_t id;    // token id of the merged pair
    };
    // merges[r] = (left id, right id) of rank r; merged_ids[r] its result.
    MergeTable(const std::vector<std::pair<int32_t, int32_t>>& merges, const std::vector<int32_t>& merged_ids);

    // The merge of (left, right), or nullptr if there is none.
    const Merge* find(int32_t left, int32_t right) const {
        const uint64_t key = pair_key(left, right);
        for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
            if (keys_[i] == key) return &values_[i];
            if (keys_[i] == kEmpty) return nullptr;
        }
    }

private:
    static constexpr uint64_t kEmpty = ~uint64_t(0);
    static uint64_t pair_key(int32_t left, int32_t right) {
        return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
    }
    size_t slot_of(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_; }

    std::vector<uint64_t> keys_;
    std::vector<Merge> values_;
    size_t mask_ = 0;
    int shift_ = 0;
};

// ids: in, one token per byte of the piece; out, the piece's tokens. O(n log n): a linked list of tokens and a
// min-heap of (rank, position) of adjacent pairs, stale entries skipped when popped.
void bpe_merge(const MergeTable& merges, std::vector<int32_t>& ids);

// The reference: rescan all pairs after every merge, O(n^2).
void bpe_merge_naive(const MergeTable& merges, std::vector<int32_t>& ids);

}  // namespace gptcore
