// GPT-2's byte-level BPE tokenizer: pre-tokenizer + BPE merges + a cache of encoded pieces, and decoding.
// File parsing, special tokens and the public API live in python/gptcore/tokenizer.py.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe.h"

namespace gptcore {

// Encoded pieces, keyed by their bytes. Natural text repeats its words, so most pieces are found here.
// One per thread: not thread-safe.
class PieceCache {
public:
    // The cached ids of `piece`, or nullptr.
    const std::vector<int32_t>* find(std::string_view piece);
    void insert(std::string_view piece, const std::vector<int32_t>& ids);

private:
    static constexpr size_t kMaxEntries = 1 << 18;  // then start afresh: bounds memory on endless unique text
    std::unordered_map<std::string, std::vector<int32_t>> map_;
    std::string key_;  // reused lookup key
};

class Tokenizer {
public:
    // token_bytes[id]: the bytes of token id (every single byte must be a token).
    // merges[r] = (left id, right id) of merge rank r, merged_ids[r] the id it makes.
    Tokenizer(std::vector<std::string> token_bytes, const std::vector<std::pair<int32_t, int32_t>>& merges,
              const std::vector<int32_t>& merged_ids);

    int vocab_size() const { return int(token_bytes_.size()); }

    // Token ids of UTF-8 text, with no special tokens. Thread-safe (one shared cache, taken in turn).
    std::vector<int32_t> encode(std::string_view text);
    // Each text's ids, over n_threads threads, each with its own cache.
    std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string_view>& texts, int n_threads);
    // The bytes of ids[0, n); throws std::invalid_argument naming the first id outside the vocabulary.
    std::string decode(const int64_t* ids, size_t n) const;

    // One piece through BPE alone (no cache), fast or reference merge loop; for tests.
    std::vector<int32_t> bpe(std::string_view piece, bool naive) const;

private:
    void encode_text(std::string_view text, PieceCache& cache, std::vector<int32_t>& out) const;

    std::vector<std::string> token_bytes_;  // (V,) bytes of each token
    int32_t byte_ids_[256];                 // token id of each single byte
    MergeTable merges_;
    std::mutex cache_mutex_;             // guards caches_
    std::vector<PieceCache> caches_;     // caches_[t] for thread t of encode_batch; [0] also for encode
};

}  // namespace gptcore
