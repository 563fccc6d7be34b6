// The GPT-2 architecture: pre-norm transformer blocks, learned positions, the LM head tied to wte.
// Other generations (GPT-1's post-norm blocks, GPT-Neo's alternating local attention) belong here as
// variations of GPT::forward's block, selected by GPTConfig; python/gptcore/config.py maps each
// Hugging Face config onto GPTConfig.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/quantize.h"
#include "model/kv_cache.h"
#include "runtime/thread_pool.h"

namespace gptcore {

struct GPTConfig {
    int vocab_size = 0;   // V
    int n_positions = 0;  // P, the longest sequence (context length)
    int n_embd = 0;       // C
    int n_layer = 0;      // L
    int n_head = 0;       // NH; head_dim hd = C / NH
    int n_inner = 0;      // F, the MLP's hidden width (4 C in GPT-2)
    float layer_norm_epsilon = 1e-5f;
    bool scale_attn_weights = true;                // scores divided by sqrt(hd)
    bool scale_attn_by_inverse_layer_idx = false;  // and by (layer index + 1)

    int head_dim() const { return n_embd / n_head; }
    // Throws std::invalid_argument naming the first field that is out of range.
    void validate() const;
};

// A borrowed float32 tensor: `data` stays owned by the caller (a memory-mapped file, a NumPy array).
struct TensorView {
    const float* data = nullptr;
    std::vector<int64_t> shape;
};

// How a bf16 / int8 model stores tensor `name`: converted, from the checkpoint's layout (the blocks' linear layers
// in_out, wte and lm_head out_in), for the matrices of the linear layers and the token embeddings (also the LM
// head); nullopt for layer norms, biases and position embeddings, which stay float32: they are small and added,
// not multiplied. python/gptcore/converted.py asks the same question through the bindings.
std::optional<WeightLayout> converted_matrix_layout(const std::string& name);

// The tensors a config needs, by the Hugging Face GPT-2 name without the "transformer." prefix, with their
// shapes. "lm_head.weight" is optional: when absent the LM head is wte (tied embeddings).
std::vector<std::pair<std::string, std::vector<int64_t>>> gpt_tensor_shapes(const GPTConfig& config);

// The weight matrix of a linear layer: the borrowed float32 tensor in its checkpoint layout, or the model's own
// bf16 / int8 copy (N, K) when it was loaded in reduced precision.
struct LinearWeight {
    const float* fp32 = nullptr;
    const QuantizedMatrix* quantized = nullptr;
};

struct LayerWeights {
    const float* ln_1_weight;       // (C)
    const float* ln_1_bias;         // (C)
    LinearWeight attn_qkv_weight;   // (C, 3C): q | k | v, head h in columns [h hd, (h+1) hd) of each
    const float* attn_qkv_bias;     // (3C)
    LinearWeight attn_proj_weight;  // (C, C)
    const float* attn_proj_bias;    // (C)
    const float* ln_2_weight;       // (C)
    const float* ln_2_bias;         // (C)
    LinearWeight mlp_fc_weight;     // (C, F)
    const float* mlp_fc_bias;       // (F)
    LinearWeight mlp_proj_weight;   // (F, C)
    const float* mlp_proj_bias;     // (C)
};

struct GPTWeights {
    LinearWeight wte;               // (V, C) token embeddings
    const float* wpe;               // (P, C) position embeddings
    std::vector<LayerWeights> layers;
    const float* ln_f_weight;       // (C)
    const float* ln_f_bias;         // (C)
    LinearWeight lm_head;           // (V, C); wte when tied
};

// A run of consecutive tokens of one sequence: they are appended to `slot` of the KV cache, at positions
// cache.length(slot) onwards. A forward call takes the tokens of several segments (a ragged batch)
// concatenated, so a prompt, a batch of decoding steps, or a mix run as one set of matrix products.
struct Segment {
    int slot;
    int n_tokens;
};

enum class LogitsFor {
    all_tokens,  // logits (n_tokens, V): every position, for scoring and parity tests
    last_token,  // logits (n_segments, V): each segment's last position, for generation
};

// Optional outputs of a forward call, for looking inside the model. Null fields cost nothing.
struct ForwardTrace {
    float* hidden_states = nullptr;  // (n_layer + 1, n_tokens, C): each layer's input, then ln_f's output
    float* attentions = nullptr;     // (n_layer, n_head, n_tokens, n_kv) probabilities; one segment only,
                                     // n_kv = its cache length after the call
};

class GPT {
public:
    // Checks every tensor's presence and shape against the config; throws std::invalid_argument naming
    // the tensor. fp32 borrows the views, which must outlive the model. bf16 / int8 convert the linear layers'
    // matrices and wte / lm_head (kernels/quantize) and copy the other tensors (layer norms, biases, wpe),
    // using the pool's threads: the model then borrows nothing.
    GPT(const GPTConfig& config, const std::map<std::string, TensorView>& tensors, int n_threads,
        WeightFormat format = WeightFormat::fp32);
    // A bf16 / int8 model over weights converted ahead of time (python/gptcore/converted.py): the matrices
    // (borrowed or owned, all of one format, (N, K) whatever the checkpoint's layout) and the float32 layer
    // norms, biases and wpe (borrowed). Nothing is converted or copied; the caller's memory must outlive it.
    GPT(const GPTConfig& config, const std::map<std::string, TensorView>& vectors,
        const std::map<std::string, QuantizedMatrix>& matrices, int n_threads);

    const GPTConfig& config() const { return config_; }
    int n_threads() const { return pool_.size(); }
    WeightFormat format() const { return format_; }
    // Bytes of the weights the forward pass reads: the borrowed float32 tensors, or the model's own copies.
    std::size_t weights_nbytes() const { return weights_nbytes_; }

    // Runs the tokens through the model, appending their keys and values to the cache, and writes logits.
    // tokens (n_tokens); segments (n_segments) with distinct slots and n_tokens summing to n_tokens.
    // Validates ids, slots and lengths before any work; throws std::out_of_range / std::invalid_argument.
    void forward(KVCache& cache, const int32_t* tokens, int n_tokens, const Segment* segments, int n_segments,
                 LogitsFor which, float* logits, const ForwardTrace& trace = {});

    // logits (rows, V) = LM head of hidden (rows, C), after the final layer norm when final_norm, in the
    // model's precision. The logit lens reads every layer's hidden state (ForwardTrace) through it.
    void lm_head(const float* hidden, int rows, bool final_norm, float* logits);

    // Rows forward() writes for these arguments.
    static int logits_rows(int n_tokens, int n_segments, LogitsFor which) {
        return which == LogitsFor::all_tokens ? n_tokens : n_segments;
    }

private:
    // weights_ from the float32 vectors and the matrices, by name; sets BLAS to one thread.
    void assign_weights(const std::map<std::string, const float*>& vectors,
                        const std::map<std::string, LinearWeight>& matrices);
    void check_inputs(const KVCache& cache, const int32_t* tokens, int n_tokens, const Segment* segments,
                      int n_segments) const;
    void reserve_activations(int n_tokens, std::size_t scratch_floats);
    void block_forward(int layer, KVCache& cache, const Segment* segments, int n_segments, int n_tokens,
                       float* attentions);
    // Runs fn(begin, end) over [0, n) split in contiguous ranges over the pool's threads.
    template <typename Fn>
    void parallel_ranges(int n, int align, Fn fn);
    // out (M, N) = inp (M, K) @ w + bias (or +=), through the kernel of w's precision; layout is fp32's.
    void linear(float* out, const float* inp, const LinearWeight& w, WeightLayout layout, const float* bias, int M,
                int K, int N, bool accumulate);

    GPTConfig config_;
    GPTWeights weights_;
    ThreadPool pool_;
    WeightFormat format_;
    std::vector<float> owned_fp32_;            // bf16 / int8 models: their copies of the small tensors
    std::vector<QuantizedMatrix> quantized_;   // bf16 / int8 models: their matrices, reserved up front (stable)
    std::size_t weights_nbytes_ = 0;
    std::mutex mutex_;  // one forward at a time: the activations below are shared

    // Activations of the current call, sized for its n_tokens (T):
    std::vector<float> x_;       // (T, C) the residual stream
    std::vector<float> h_;       // (T, C) layer norm output
    std::vector<float> qkv_;     // (T, 3C)
    std::vector<float> att_;     // (T, C) attention output, heads side by side
    std::vector<float> fc_;      // (T, F) MLP hidden
    std::vector<int32_t> pos_;   // (T) position of each token
    std::vector<int> seg_row_;   // (n_segments) first row of each segment
    std::vector<float> scratch_; // (n_threads, scratch_floats) attention scores
    std::size_t scratch_floats_ = 0;
};

}  // namespace gptcore
