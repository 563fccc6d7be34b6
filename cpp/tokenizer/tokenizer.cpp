#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/thread_pool.h"
#include "tokenizer/pretokenizer.h"

namespace gptcore {

namespace {
constexpr size_t kMaxCachedPiece = 64;  // bytes; longer pieces rarely repeat
}  // namespace

const std::vector<int32_t>* PieceCache::find(std::string_view piece) {
    key_.assign(piece.data(), piece.size());
    const auto it = map_.find(key_);
    return it == map_.end() ? nullptr : &it->second;
}

void PieceCache::insert(std::string_view piece, const std::vector<int32_t>& ids) {
    if (map_.size() >= kMaxEntries) map_.clear();
    map_.emplace(std::string(piece), ids);
}

Tokenizer::Tokenizer(std::vector<std::string> token_bytes, const std::vector<std::pair<int32_t, int32_t>>& merges,
                     const std::vector<int32_t>& merged_ids)
    : token_bytes_(std::move(token_bytes)), merges_(merges, merged_ids), caches_(1) {
    std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
    for (size_t id = 0; id < token_bytes_.size(); ++id)
        if (token_bytes_[id].size() == 1) byte_ids_[uint8_t(token_bytes_[id][0])] = int32_t(id);
    for (int b = 0; b < 256; ++b)
        if (byte_ids_[b] < 0)
            throw std::invalid_argument("token_bytes: no token for the single byte " + std::to_string(b) +
                                        "; a byte-level BPE vocabulary has all 256");
    const int V = vocab_size();
    for (size_t r = 0; r < merges.size(); ++r) {
        const auto [a, b] = merges[r];
        if (a < 0 || a >= V || b < 0 || b >= V || merged_ids[r] < 0 || merged_ids[r] >= V)
            throw std::invalid_argument("merges[" + std::to_string(r) + "]: token id outside [0, " +
                                        std::to_string(V) + ")");
    }
}

std::vector<int32_t> Tokenizer::bpe(std::string_view piece, bool naive) const {
    std::vector<int32_t> ids;
    for (unsigned char c : piece) ids.push_back(byte_ids_[c]);
    (naive ? bpe_merge_naive : bpe_merge)(merges_, ids);
    return ids;
}

void Tokenizer::encode_text(std::string_view text, PieceCache& cache, std::vector<int32_t>& out) const {
    std::vector<int32_t> ids;
    for (size_t pos = 0; pos < text.size();) {
        const size_t end = pretoken_end(text.data(), text.size(), pos);
        const std::string_view piece = text.substr(pos, end - pos);
        pos = end;
        if (piece.size() == 1) {
            out.push_back(byte_ids_[uint8_t(piece[0])]);
            continue;
        }
        const bool cacheable = piece.size() <= kMaxCachedPiece;
        if (cacheable) {
            if (const std::vector<int32_t>* hit = cache.find(piece)) {
                out.insert(out.end(), hit->begin(), hit->end());
                continue;
            }
        }
        ids.clear();
        for (unsigned char c : piece) ids.push_back(byte_ids_[c]);
        bpe_merge(merges_, ids);
        if (cacheable) cache.insert(piece, ids);
        out.insert(out.end(), ids.begin(), ids.end());
    }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) {
    std::vector<int32_t> out;
    out.reserve(text.size() / 4);
    std::lock_guard<std::mutex> lock(cache_mutex_);
    encode_text(text, caches_[0], out);
    return out;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string_view>& texts,
                                                          int n_threads) {
    std::vector<std::vector<int32_t>> out(texts.size());
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (int(caches_.size()) < n_threads) caches_.resize(n_threads);
    ThreadPool pool(std::max(1, std::min<int>(n_threads, int(texts.size()))));
    pool.parallel_for(int(texts.size()), [&](int task, int thread) {
        out[task].reserve(texts[task].size() / 4);
        encode_text(texts[task], caches_[thread], out[task]);
    });
    return out;
}

std::string Tokenizer::decode(const int64_t* ids, size_t n) const {
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || ids[i] >= vocab_size())
            throw std::invalid_argument("token id " + std::to_string(ids[i]) + " (at position " + std::to_string(i) +
                                        ") is not in the vocabulary [0, " + std::to_string(vocab_size()) + ")");
        out += token_bytes_[ids[i]];
    }
    return out;
}

}  // namespace gptcore
