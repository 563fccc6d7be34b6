// Picks each sequence's next token from its logits. The processors run in transformers' order:
//   1. logit_bias                      5. bad_words
//   2. repetition_penalty              6. min_new_tokens (end-of-sequence banned until then)
//   3. presence / frequency penalty    then, when do_sample:
//   4. no_repeat_ngram                 7. temperature  8. top_k  9. top_p  10. min_p  11. typical_p
// and then a draw from the resulting distribution (do_sample) or its argmax (greedy).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace gptcore {

// The options shared by every sequence of a call; a neutral value turns each step off.
struct SamplingParams {
    bool do_sample = false;
    float temperature = 1.0f;         // > 0
    int top_k = 0;                    // 0: off
    float top_p = 1.0f;               // (0, 1]; 1: off
    float min_p = 0.0f;               // [0, 1]; 0: off
    float typical_p = 1.0f;           // (0, 1]; 1: off
    float repetition_penalty = 1.0f;  // > 0; 1: off
    float presence_penalty = 0.0f;    // [-2, 2] in the OpenAI API; any finite value here
    float frequency_penalty = 0.0f;
    int no_repeat_ngram_size = 0;     // 0: off
    int min_new_tokens = 0;
    std::vector<int32_t> eos_token_ids;              // for min_new_tokens
    std::vector<std::vector<int32_t>> bad_words_ids;
    std::vector<std::pair<int32_t, float>> logit_bias;  // (token, added to its logit)

    // Throws std::invalid_argument naming the first field out of range (token ids against vocab_size V).
    void validate(int V) const;
};

// One sequence being generated: its tokens (prompt then generated) and its random stream.
struct SampledSequence {
    std::vector<int32_t> tokens;
    int n_prompt = 0;
    uint64_t seed = 0;
    uint64_t stream = 0;  // e.g. the return index when one prompt is sampled several times
    int n_generated() const { return static_cast<int>(tokens.size()) - n_prompt; }
};

// The token a step picked and its log-probabilities.
struct SampledToken {
    int32_t token;
    float logprob;      // under the processed distribution it was picked from (after step 6, or 11 if sampling)
    float raw_logprob;  // under the model's own distribution (the logits as they came)
};

class Sampler {
public:
    Sampler(SamplingParams params, int vocab_size);  // validates params

    const SamplingParams& params() const { return params_; }
    int vocab_size() const { return V_; }

    // Adds a sequence with its prompt (n_prompt tokens, ids checked) and returns its index.
    int add_sequence(const int32_t* prompt, int n_prompt, uint64_t seed, uint64_t stream);
    const SampledSequence& sequence(int seq) const;

    // logits (V) in place: steps 1-6, and 7-11 when do_sample, for sequence seq.
    void process(int seq, float* logits) const;

    // For i < n: picks sequence seqs[i]'s next token from logits row i of (n, V), appends it to the sequence,
    // writes it to out[i]. A sequence's k-th draw is philox_uniform(seed, stream, k): it depends on nothing else.
    void sample(const int* seqs, int n, const float* logits, SampledToken* out);

private:
    SampledToken sample_one(int seq, const float* logits);
    void check_seq(int seq) const;

    SamplingParams params_;
    int V_;
    std::vector<SampledSequence> sequences_;
    std::vector<float> work_;  // (V) the row being processed
};

}  // namespace gptcore
