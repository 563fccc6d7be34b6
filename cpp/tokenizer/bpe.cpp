#include "tokenizer/bpe.h"

#include <algorithm>
#include <climits>
#include <functional>
#include <queue>
#include <stdexcept>
#include <string>

namespace gptcore {

MergeTable::MergeTable(const std::vector<std::pair<int32_t, int32_t>>& merges,
                       const std::vector<int32_t>& merged_ids) {
    if (merges.size() != merged_ids.size())
        throw std::invalid_argument("MergeTable: " + std::to_string(merges.size()) + " merges but " +
                                    std::to_string(merged_ids.size()) + " merged ids");
    size_t capacity = 16;
    int bits = 4;
    while (capacity < 2 * merges.size()) capacity *= 2, ++bits;  // load factor <= 1/2
    keys_.assign(capacity, kEmpty);
    values_.resize(capacity);
    mask_ = capacity - 1;
    shift_ = 64 - bits;
    for (size_t r = 0; r < merges.size(); ++r) {
        const uint64_t key = pair_key(merges[r].first, merges[r].second);
        size_t i = slot_of(key);
        while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
        if (keys_[i] == key) continue;  // a repeated pair keeps its first (lowest) rank
        keys_[i] = key;
        values_[i] = {int32_t(r), merged_ids[r]};
    }
}

void bpe_merge_naive(const MergeTable& merges, std::vector<int32_t>& ids) {
    for (;;) {
        const MergeTable::Merge* best = nullptr;
        size_t at = 0;
        for (size_t i = 0; i + 1 < ids.size(); ++i) {
            const MergeTable::Merge* m = merges.find(ids[i], ids[i + 1]);
            if (m && (!best || m->rank < best->rank)) best = m, at = i;
        }
        if (!best) return;
        ids[at] = best->id;
        ids.erase(ids.begin() + at + 1);
    }
}

void bpe_merge(const MergeTable& merges, std::vector<int32_t>& ids) {
    const int n = int(ids.size());
    if (n < 2) return;
    constexpr int kNone = INT_MAX;
    // Token i is alive while next[i] != -2; rank[i] is the rank of the pair (i, next alive token), or kNone.
    std::vector<int> prev(n), next(n), rank(n), merged(n);
    using Entry = std::pair<int, int>;  // (rank, position): the smallest rank, then the leftmost, pops first
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
    auto update = [&](int i) {  // recompute the pair starting at token i
        const MergeTable::Merge* m = next[i] >= 0 ? merges.find(ids[i], ids[next[i]]) : nullptr;
        rank[i] = m ? m->rank : kNone;
        merged[i] = m ? m->id : -1;
        if (m) heap.push({rank[i], i});
    };
    for (int i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
    for (int i = 0; i < n; ++i) update(i);
    while (!heap.empty()) {
        const auto [r, i] = heap.top();
        heap.pop();
        if (next[i] == -2 || rank[i] != r) continue;  // token merged away, or its pair changed since the push
        const int j = next[i];
        ids[i] = merged[i];
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        next[j] = -2;
        update(i);
        if (prev[i] >= 0) update(prev[i]);
    }
    int out = 0;
    for (int i = 0; i >= 0; i = next[i]) ids[out++] = ids[i];
    ids.resize(out);
}

}  // namespace gptcore
