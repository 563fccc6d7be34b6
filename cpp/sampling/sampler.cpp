#include "sampling/sampler.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "sampling/bad_words.h"
#include "sampling/distribution.h"
#include "sampling/logit_bias.h"
#include "sampling/min_new_tokens.h"
#include "sampling/min_p.h"
#include "sampling/no_repeat_ngram.h"
#include "sampling/philox.h"
#include "sampling/presence_frequency_penalty.h"
#include "sampling/repetition_penalty.h"
#include "sampling/temperature.h"
#include "sampling/top_k.h"
#include "sampling/top_p.h"
#include "sampling/typical_p.h"

namespace gptcore {

namespace {

[[noreturn]] void out_of_range(const std::string& name, const std::string& expected, double got) {
    throw std::invalid_argument(name + " must be " + expected + ", got " + std::to_string(got));
}

void check_token(const std::string& name, int32_t id, int V) {
    if (id < 0 || id >= V) throw std::invalid_argument(name + " holds token id " + std::to_string(id) +
                                                       ", out of range [0, vocab_size=" + std::to_string(V) + ")");
}

}  // namespace

void SamplingParams::validate(int V) const {
    if (!(temperature > 0.0f) || !std::isfinite(temperature)) out_of_range("temperature", "> 0", temperature);
    if (top_k < 0) out_of_range("top_k", ">= 0", top_k);
    if (!(top_p > 0.0f && top_p <= 1.0f)) out_of_range("top_p", "in (0, 1]", top_p);
    if (!(min_p >= 0.0f && min_p <= 1.0f)) out_of_range("min_p", "in [0, 1]", min_p);
    if (!(typical_p > 0.0f && typical_p <= 1.0f)) out_of_range("typical_p", "in (0, 1]", typical_p);
    if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
        out_of_range("repetition_penalty", "> 0", repetition_penalty);
    if (!std::isfinite(presence_penalty)) out_of_range("presence_penalty", "finite", presence_penalty);
    if (!std::isfinite(frequency_penalty)) out_of_range("frequency_penalty", "finite", frequency_penalty);
    if (no_repeat_ngram_size < 0) out_of_range("no_repeat_ngram_size", ">= 0", no_repeat_ngram_size);
    if (min_new_tokens < 0) out_of_range("min_new_tokens", ">= 0", min_new_tokens);
    for (int32_t id : eos_token_ids) check_token("eos_token_id", id, V);
    for (const auto& word : bad_words_ids) {
        if (word.empty()) throw std::invalid_argument("bad_words_ids holds an empty sequence");
        for (int32_t id : word) check_token("bad_words_ids", id, V);
    }
    for (const auto& [id, bias] : logit_bias) {
        check_token("logit_bias", id, V);
        if (std::isnan(bias)) throw std::invalid_argument("logit_bias for token " + std::to_string(id) + " is NaN");
    }
}

Sampler::Sampler(SamplingParams params, int vocab_size) : params_(std::move(params)), V_(vocab_size), work_(vocab_size) {
    if (vocab_size < 1) out_of_range("vocab_size", ">= 1", vocab_size);
    params_.validate(V_);
}

int Sampler::add_sequence(const int32_t* prompt, int n_prompt, uint64_t seed, uint64_t stream) {
    for (int i = 0; i < n_prompt; ++i) check_token("prompt", prompt[i], V_);
    sequences_.push_back({std::vector<int32_t>(prompt, prompt + n_prompt), n_prompt, seed, stream});
    return static_cast<int>(sequences_.size()) - 1;
}

void Sampler::check_seq(int seq) const {
    if (seq < 0 || seq >= static_cast<int>(sequences_.size()))
        throw std::out_of_range("sequence " + std::to_string(seq) + " out of range [0, " +
                                std::to_string(sequences_.size()) + ")");
}

const SampledSequence& Sampler::sequence(int seq) const {
    check_seq(seq);
    return sequences_[seq];
}

void Sampler::process(int seq, float* logits) const {
    check_seq(seq);
    const SamplingParams& p = params_;
    const SampledSequence& s = sequences_[seq];
    const int32_t* tokens = s.tokens.data();
    const int n = static_cast<int>(s.tokens.size());
    if (!p.logit_bias.empty()) logit_bias(logits, p.logit_bias);
    if (p.repetition_penalty != 1.0f) repetition_penalty(logits, tokens, n, p.repetition_penalty);
    if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f)
        presence_frequency_penalty(logits, tokens + s.n_prompt, s.n_generated(), p.presence_penalty,
                                   p.frequency_penalty);
    if (p.no_repeat_ngram_size > 0) no_repeat_ngram(logits, tokens, n, p.no_repeat_ngram_size);
    if (!p.bad_words_ids.empty()) bad_words(logits, tokens, n, p.bad_words_ids);
    if (p.min_new_tokens > 0) min_new_tokens(logits, s.n_generated(), p.min_new_tokens, p.eos_token_ids);
    if (!p.do_sample) return;
    if (p.temperature != 1.0f) temperature(logits, V_, p.temperature);
    if (p.top_k > 0) top_k(logits, V_, p.top_k);
    if (p.top_p < 1.0f) top_p(logits, V_, p.top_p);
    if (p.min_p > 0.0f) min_p(logits, V_, p.min_p);
    if (p.typical_p < 1.0f) typical_p(logits, V_, p.typical_p);
}

SampledToken Sampler::sample_one(int seq, const float* logits) {
    std::vector<float>& work = work_;
    work.assign(logits, logits + V_);
    process(seq, work.data());
    SampledSequence& s = sequences_[seq];
    const double lse = log_sum_exp(work.data(), V_);
    if (std::isinf(lse))
        throw std::runtime_error("every token was filtered out (bad_words_ids, no_repeat_ngram_size or min_new_tokens "
                                 "left no token with a finite logit)");
    const int token = params_.do_sample ? draw(work.data(), V_, philox_uniform(s.seed, s.stream, s.n_generated()))
                                        : argmax(work.data(), V_);
    SampledToken out{token, static_cast<float>(work[token] - lse),
                     static_cast<float>(logits[token] - log_sum_exp(logits, V_))};
    s.tokens.push_back(token);
    return out;
}

void Sampler::sample(const int* seqs, int n, const float* logits, SampledToken* out) {
    for (int i = 0; i < n; ++i) check_seq(seqs[i]);
    for (int i = 0; i < n; ++i)
        out[i] = sample_one(seqs[i], logits + static_cast<size_t>(i) * V_);
}

}  // namespace gptcore
