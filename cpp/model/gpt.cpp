#include "model/gpt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gelu.h"
#include "kernels/half.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/matmul_quantized.h"
#include "runtime/blas.h"

namespace gptcore {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
    std::ostringstream s;
    s << "(";
    for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
    s << (shape.size() == 1 ? ",)" : ")");
    return s.str();
}

// The tensor `name` of `tensors`, checked against `shape`; throws std::invalid_argument naming it when it is
// missing, of another shape or has no data.
const float* checked_tensor(const std::map<std::string, TensorView>& tensors, const std::string& name,
                            const std::vector<int64_t>& shape) {
    auto it = tensors.find(name);
    if (it == tensors.end())
        throw std::invalid_argument("missing tensor '" + name + "' (expected shape " + shape_str(shape) + ")");
    if (it->second.shape != shape)
        throw std::invalid_argument("tensor '" + name + "' has shape " + shape_str(it->second.shape) + ", expected " +
                                    shape_str(shape));
    if (!it->second.data) throw std::invalid_argument("tensor '" + name + "' has no data");
    return it->second.data;
}

long element_count(const std::vector<int64_t>& shape) {
    long n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

void require_positive(const char* name, int value) {
    if (value <= 0) throw std::invalid_argument(std::string("config: ") + name + " must be > 0, got " + std::to_string(value));
}

}  // namespace

std::optional<WeightLayout> converted_matrix_layout(const std::string& name) {
    for (const char* suffix : {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"})
        if (name.rfind("h.", 0) == 0 && name.size() > std::strlen(suffix) &&
            name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
            return WeightLayout::in_out;  // the blocks' Conv1D weights are (K, N)
    if (name == "wte.weight" || name == "lm_head.weight") return WeightLayout::out_in;  // (V, C) = (N, K)
    return std::nullopt;
}

void GPTConfig::validate() const {
    require_positive("vocab_size", vocab_size);
    require_positive("n_positions", n_positions);
    require_positive("n_embd", n_embd);
    require_positive("n_layer", n_layer);
    require_positive("n_head", n_head);
    require_positive("n_inner", n_inner);
    if (n_embd % n_head != 0)
        throw std::invalid_argument("config: n_embd (" + std::to_string(n_embd) + ") must be divisible by n_head (" +
                                    std::to_string(n_head) + ")");
    if (!(layer_norm_epsilon > 0.0f) || !std::isfinite(layer_norm_epsilon))
        throw std::invalid_argument("config: layer_norm_epsilon must be a positive number, got " +
                                    std::to_string(layer_norm_epsilon));
}

std::vector<std::pair<std::string, std::vector<int64_t>>> gpt_tensor_shapes(const GPTConfig& c) {
    const int64_t V = c.vocab_size, P = c.n_positions, C = c.n_embd, F = c.n_inner;
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes = {{"wte.weight", {V, C}}, {"wpe.weight", {P, C}}};
    for (int l = 0; l < c.n_layer; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        shapes.push_back({p + "ln_1.weight", {C}});
        shapes.push_back({p + "ln_1.bias", {C}});
        shapes.push_back({p + "attn.c_attn.weight", {C, 3 * C}});
        shapes.push_back({p + "attn.c_attn.bias", {3 * C}});
        shapes.push_back({p + "attn.c_proj.weight", {C, C}});
        shapes.push_back({p + "attn.c_proj.bias", {C}});
        shapes.push_back({p + "ln_2.weight", {C}});
        shapes.push_back({p + "ln_2.bias", {C}});
        shapes.push_back({p + "mlp.c_fc.weight", {C, F}});
        shapes.push_back({p + "mlp.c_fc.bias", {F}});
        shapes.push_back({p + "mlp.c_proj.weight", {F, C}});
        shapes.push_back({p + "mlp.c_proj.bias", {C}});
    }
    shapes.push_back({"ln_f.weight", {C}});
    shapes.push_back({"ln_f.bias", {C}});
    shapes.push_back({"lm_head.weight", {V, C}});
    return shapes;
}

GPT::GPT(const GPTConfig& config, const std::map<std::string, TensorView>& tensors, int n_threads,
         WeightFormat format)
    : config_(config), pool_((config.validate(), n_threads)), format_(format) {
    std::map<std::string, std::pair<const float*, std::vector<int64_t>>> found;
    for (const auto& [name, shape] : gpt_tensor_shapes(config_)) {
        if (name == "lm_head.weight" && !tensors.count(name)) continue;  // tied to wte
        found[name] = {checked_tensor(tensors, name, shape), shape};
    }

    // In bf16 / int8, every tensor is replaced by the model's own copy before the views are used.
    std::map<std::string, LinearWeight> matrices;
    if (format_ == WeightFormat::fp32) {
        for (const auto& [name, tensor] : found) {
            if (converted_matrix_layout(name)) matrices[name].fp32 = tensor.first;
            weights_nbytes_ += element_count(tensor.second) * sizeof(float);
        }
    } else {
        long small = 0, n_matrices = 0;
        for (const auto& [name, tensor] : found) {
            if (converted_matrix_layout(name))
                ++n_matrices;
            else
                small += element_count(tensor.second);
        }
        owned_fp32_.resize(small);
        quantized_.reserve(n_matrices);
        float* copy = owned_fp32_.data();
        for (auto& [name, tensor] : found) {
            auto& [data, shape] = tensor;
            const std::optional<WeightLayout> converted = converted_matrix_layout(name);
            if (!converted) {
                std::copy(data, data + element_count(shape), copy);
                data = copy;
                copy += element_count(shape);
                continue;
            }
            const WeightLayout layout = *converted;
            const int K = static_cast<int>(layout == WeightLayout::in_out ? shape[0] : shape[1]);
            const int N = static_cast<int>(layout == WeightLayout::in_out ? shape[1] : shape[0]);
            try {
                quantized_.push_back(quantize(pool_, data, layout, K, N, format_));
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument("tensor '" + name + "': " + e.what());
            }
            matrices[name].quantized = &quantized_.back();
            weights_nbytes_ += quantized_.back().nbytes();
        }
        weights_nbytes_ += owned_fp32_.size() * sizeof(float);
    }

    std::map<std::string, const float*> vectors;
    for (const auto& [name, tensor] : found)
        if (!converted_matrix_layout(name)) vectors[name] = tensor.first;
    assign_weights(vectors, matrices);
}

GPT::GPT(const GPTConfig& config, const std::map<std::string, TensorView>& vectors,
         const std::map<std::string, QuantizedMatrix>& matrices, int n_threads)
    : config_(config), pool_((config.validate(), n_threads)) {
    if (matrices.empty()) throw std::invalid_argument("a converted model needs its bf16 / int8 matrices");
    format_ = matrices.begin()->second.format;
    std::map<std::string, const float*> small;
    std::map<std::string, LinearWeight> linear;
    quantized_.reserve(matrices.size());
    for (const auto& [name, shape] : gpt_tensor_shapes(config_)) {
        if (const std::optional<WeightLayout> layout = converted_matrix_layout(name)) {
            auto it = matrices.find(name);
            if (it == matrices.end()) {
                if (name == "lm_head.weight") continue;  // tied to wte
                throw std::invalid_argument("missing matrix '" + name + "'");
            }
            const QuantizedMatrix& m = it->second;
            // Stored (N, K) whatever the checkpoint's layout.
            const bool in_out = *layout == WeightLayout::in_out;
            const int64_t N = in_out ? shape[1] : shape[0], K = in_out ? shape[0] : shape[1];
            if (m.N != N || m.K != K)
                throw std::invalid_argument("matrix '" + name + "' is (" + std::to_string(m.N) + ", " +
                                            std::to_string(m.K) + ") as (N, K), expected (" + std::to_string(N) +
                                            ", " + std::to_string(K) + ")");
            if (m.format != format_)
                throw std::invalid_argument(std::string("matrix '") + name + "' is " + weight_format_name(m.format) +
                                            ", the others " + weight_format_name(format_));
            if (!(format_ == WeightFormat::bf16 ? m.bf16 != nullptr : m.int8 != nullptr && m.scales != nullptr))
                throw std::invalid_argument("matrix '" + name + "' has no data");
            quantized_.push_back(m);
            linear[name].quantized = &quantized_.back();
            weights_nbytes_ += m.nbytes();
            continue;
        }
        small[name] = checked_tensor(vectors, name, shape);
        weights_nbytes_ += element_count(shape) * sizeof(float);
    }
    for (const auto& [name, m] : matrices)
        if (!linear.count(name)) throw std::invalid_argument("unexpected matrix '" + name + "'");
    assign_weights(small, linear);
}

void GPT::assign_weights(const std::map<std::string, const float*>& vectors,
                         const std::map<std::string, LinearWeight>& matrices) {
    auto vector = [&](const std::string& name) { return vectors.at(name); };
    weights_.wte = matrices.at("wte.weight");
    weights_.wpe = vector("wpe.weight");
    for (int l = 0; l < config_.n_layer; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        weights_.layers.push_back({vector(p + "ln_1.weight"), vector(p + "ln_1.bias"),
                                   matrices.at(p + "attn.c_attn.weight"), vector(p + "attn.c_attn.bias"),
                                   matrices.at(p + "attn.c_proj.weight"), vector(p + "attn.c_proj.bias"),
                                   vector(p + "ln_2.weight"), vector(p + "ln_2.bias"),
                                   matrices.at(p + "mlp.c_fc.weight"), vector(p + "mlp.c_fc.bias"),
                                   matrices.at(p + "mlp.c_proj.weight"), vector(p + "mlp.c_proj.bias")});
    }
    weights_.ln_f_weight = vector("ln_f.weight");
    weights_.ln_f_bias = vector("ln_f.bias");
    weights_.lm_head = matrices.count("lm_head.weight") ? matrices.at("lm_head.weight") : weights_.wte;
    blas::set_num_threads(1);  // gptcore's pool owns the cores (see runtime/blas.h)
}

void GPT::check_inputs(const KVCache& cache, const int32_t* tokens, int n_tokens, const Segment* segments,
                       int n_segments) const {
    if (n_tokens < 1) throw std::invalid_argument("forward needs at least one token");
    if (n_segments < 1) throw std::invalid_argument("forward needs at least one segment");
    if (const std::string what = cache.mismatch(config_); !what.empty())
        throw std::invalid_argument("the KV cache was made for another model: " + what);
    for (int t = 0; t < n_tokens; ++t)
        if (tokens[t] < 0 || tokens[t] >= config_.vocab_size)
            throw std::out_of_range("token id " + std::to_string(tokens[t]) + " at index " + std::to_string(t) +
                                    " is out of range [0, vocab_size=" + std::to_string(config_.vocab_size) + ")");
    std::vector<bool> used(cache.n_slots(), false);
    long total = 0;
    for (int s = 0; s < n_segments; ++s) {
        const Segment& seg = segments[s];
        if (seg.slot < 0 || seg.slot >= cache.n_slots())
            throw std::out_of_range("segment " + std::to_string(s) + ": slot " + std::to_string(seg.slot) +
                                    " out of range [0, " + std::to_string(cache.n_slots()) + ")");
        if (used[seg.slot])
            throw std::invalid_argument("segment " + std::to_string(s) + ": slot " + std::to_string(seg.slot) +
                                        " appears twice in one forward call");
        used[seg.slot] = true;
        if (seg.n_tokens < 1)
            throw std::invalid_argument("segment " + std::to_string(s) + " has " + std::to_string(seg.n_tokens) +
                                        " tokens; each segment needs at least one");
        const int end = cache.length(seg.slot) + seg.n_tokens;
        if (end > config_.n_positions)
            throw std::out_of_range("sequence in slot " + std::to_string(seg.slot) + " would reach " +
                                    std::to_string(end) + " tokens, longer than the model's context n_positions=" +
                                    std::to_string(config_.n_positions));
        if (end > cache.capacity())
            throw std::out_of_range("sequence in slot " + std::to_string(seg.slot) + " would reach " +
                                    std::to_string(end) + " tokens, more than the KV cache capacity " +
                                    std::to_string(cache.capacity()));
        total += seg.n_tokens;
    }
    if (total != n_tokens)
        throw std::invalid_argument("segments cover " + std::to_string(total) + " tokens but " +
                                    std::to_string(n_tokens) + " were given");
}

void GPT::reserve_activations(int T, std::size_t scratch_floats) {
    const std::size_t C = config_.n_embd, F = config_.n_inner;
    auto grow = [](auto& v, std::size_t n) {
        if (v.size() < n) v.resize(n);
    };
    grow(x_, T * C);
    grow(h_, T * C);
    grow(qkv_, T * 3 * C);
    grow(att_, T * C);
    grow(fc_, T * F);
    grow(pos_, T);
    if (scratch_floats > scratch_floats_) {
        scratch_floats_ = scratch_floats;
        scratch_.resize(scratch_floats_ * pool_.size());
    }
}

template <typename Fn>
void GPT::parallel_ranges(int n, int align, Fn fn) {
    const int parts = std::min(pool_.size(), (n + align - 1) / align);
    pool_.parallel_for(parts, [&](int task, int) {
        const Range r = split_range(n, parts, align, task);
        if (r.begin < r.end) fn(r.begin, r.end);
    });
}

void GPT::linear(float* out, const float* inp, const LinearWeight& w, WeightLayout layout, const float* bias, int M,
                 int K, int N, bool accumulate) {
    if (w.quantized)
        matmul_quantized_forward(pool_, out, inp, *w.quantized, bias, M, accumulate);
    else
        matmul_forward(pool_, out, inp, w.fp32, layout, bias, M, K, N, accumulate);
}

// attentions: this layer's (n_head, T, n_kv) block of ForwardTrace::attentions, or null.
void GPT::block_forward(int l, KVCache& cache, const Segment* segments, int n_segments, int T, float* attentions) {
    const int C = config_.n_embd, F = config_.n_inner, NH = config_.n_head, hd = config_.head_dim();
    const LayerWeights& w = weights_.layers[l];
    float* x = x_.data();
    float* h = h_.data();
    float* qkv = qkv_.data();
    float* att = att_.data();
    float* fc = fc_.data();

    // Attention: x += proj(attention(ln_1(x)))
    parallel_ranges(T, 1, [&](int r0, int r1) {
        layernorm_forward(h + static_cast<long>(r0) * C, x + static_cast<long>(r0) * C, w.ln_1_weight, w.ln_1_bias,
                          r1 - r0, C, config_.layer_norm_epsilon);
    });
    linear(qkv, h, w.attn_qkv_weight, WeightLayout::in_out, w.attn_qkv_bias, T, C, 3 * C, false);

    float scale = config_.scale_attn_weights ? 1.0f / std::sqrt(static_cast<float>(hd)) : 1.0f;
    if (config_.scale_attn_by_inverse_layer_idx) scale /= static_cast<float>(l + 1);
    // One task per (segment, head): append this head's keys and values to the cache, then attend.
    const bool half = cache.format() == KVFormat::fp16;
    pool_.parallel_for(n_segments * NH, [&](int task, int thread) {
        const Segment& seg = segments[task / NH];
        const int head = task % NH, row0 = seg_row_[task / NH], pos0 = cache.length(seg.slot);
        const float* q = qkv + static_cast<long>(row0) * 3 * C + head * hd;
        float* out = att + static_cast<long>(row0) * C + head * hd;
        float* scratch = scratch_.data() + thread * scratch_floats_;
        float* probs = attentions ? attentions + head * T * static_cast<long>(pos0 + seg.n_tokens) : nullptr;
        auto attend = [&](auto* kc, auto* vc, auto store) {
            for (int i = 0; i < seg.n_tokens; ++i) {
                const float* src = q + static_cast<long>(i) * 3 * C;
                store(src + C, kc + static_cast<long>(pos0 + i) * hd);
                store(src + 2 * C, vc + static_cast<long>(pos0 + i) * hd);
            }
            attention_forward(out, C, q, 3 * C, kc, vc, seg.n_tokens, pos0, hd, scale, 0, scratch, probs);
        };
        if (half)
            attend(cache.k<uint16_t>(l, seg.slot, head), cache.v<uint16_t>(l, seg.slot, head),
                   [&](const float* src, uint16_t* dst) { halves_from_floats(src, dst, hd); });
        else
            attend(cache.k<float>(l, seg.slot, head), cache.v<float>(l, seg.slot, head),
                   [&](const float* src, float* dst) { std::copy(src, src + hd, dst); });
    });
    linear(x, att, w.attn_proj_weight, WeightLayout::in_out, w.attn_proj_bias, T, C, C, true);

    // MLP: x += proj(gelu(fc(ln_2(x))))
    parallel_ranges(T, 1, [&](int r0, int r1) {
        layernorm_forward(h + static_cast<long>(r0) * C, x + static_cast<long>(r0) * C, w.ln_2_weight, w.ln_2_bias,
                          r1 - r0, C, config_.layer_norm_epsilon);
    });
    linear(fc, h, w.mlp_fc_weight, WeightLayout::in_out, w.mlp_fc_bias, T, C, F, false);
    parallel_ranges(T * F, 64, [&](int i0, int i1) { gelu_forward(fc + i0, fc + i0, i1 - i0); });
    linear(x, fc, w.mlp_proj_weight, WeightLayout::in_out, w.mlp_proj_bias, T, F, C, true);
}

void GPT::forward(KVCache& cache, const int32_t* tokens, int T, const Segment* segments, int n_segments,
                  LogitsFor which, float* logits, const ForwardTrace& trace) {
    std::lock_guard<std::mutex> lock(mutex_);
    check_inputs(cache, tokens, T, segments, n_segments);
    if (trace.attentions && n_segments != 1)
        throw std::invalid_argument("attention weights can be returned for one sequence at a time, got " +
                                    std::to_string(n_segments) + " segments");
    const int C = config_.n_embd, V = config_.vocab_size;

    std::size_t scratch_floats = 0;
    for (int s = 0; s < n_segments; ++s) {
        const int n_q = segments[s].n_tokens, n_kv = cache.length(segments[s].slot) + n_q;
        scratch_floats = std::max(scratch_floats, attention_scratch_floats(n_q, n_kv, config_.head_dim(),
                                                                           cache.format() == KVFormat::fp16));
    }
    reserve_activations(T, scratch_floats);
    seg_row_.resize(n_segments);
    for (int s = 0, row = 0; s < n_segments; row += segments[s].n_tokens, ++s) {
        seg_row_[s] = row;
        for (int i = 0; i < segments[s].n_tokens; ++i) pos_[row + i] = cache.length(segments[s].slot) + i;
    }

    parallel_ranges(T, 1, [&](int r0, int r1) {
        float* x = x_.data() + static_cast<long>(r0) * C;
        if (weights_.wte.quantized)
            embedding_forward(x, tokens + r0, pos_.data() + r0, *weights_.wte.quantized, weights_.wpe, r1 - r0);
        else
            embedding_forward(x, tokens + r0, pos_.data() + r0, weights_.wte.fp32, weights_.wpe, r1 - r0, C);
    });
    const long hidden_size = static_cast<long>(T) * C;
    const long attn_size = static_cast<long>(config_.n_head) * T * (cache.length(segments[0].slot) + T);
    for (int l = 0; l < config_.n_layer; ++l) {
        if (trace.hidden_states) std::copy(x_.data(), x_.data() + hidden_size, trace.hidden_states + l * hidden_size);
        block_forward(l, cache, segments, n_segments, T, trace.attentions ? trace.attentions + l * attn_size : nullptr);
    }
    if (trace.hidden_states)
        parallel_ranges(T, 1, [&](int r0, int r1) {
            layernorm_forward(trace.hidden_states + config_.n_layer * hidden_size + static_cast<long>(r0) * C,
                              x_.data() + static_cast<long>(r0) * C, weights_.ln_f_weight, weights_.ln_f_bias,
                              r1 - r0, C, config_.layer_norm_epsilon);
        });
    for (int s = 0; s < n_segments; ++s) cache.advance(segments[s].slot, segments[s].n_tokens);

    // Final layer norm on the rows that need logits, gathered into h (rows, C).
    const int rows = logits_rows(T, n_segments, which);
    parallel_ranges(rows, 1, [&](int r0, int r1) {
        for (int r = r0; r < r1; ++r) {
            const int src = which == LogitsFor::all_tokens ? r : seg_row_[r] + segments[r].n_tokens - 1;
            layernorm_forward(h_.data() + static_cast<long>(r) * C, x_.data() + static_cast<long>(src) * C,
                              weights_.ln_f_weight, weights_.ln_f_bias, 1, C, config_.layer_norm_epsilon);
        }
    });
    linear(logits, h_.data(), weights_.lm_head, WeightLayout::out_in, nullptr, rows, C, V, false);
}

void GPT::lm_head(const float* hidden, int rows, bool final_norm, float* logits) {
    const int C = config_.n_embd;
    if (rows < 1) throw std::invalid_argument("lm_head: rows must be positive, got " + std::to_string(rows));
    std::vector<float> normed;
    if (final_norm) {
        normed.resize(static_cast<std::size_t>(rows) * C);
        parallel_ranges(rows, 1, [&](int r0, int r1) {
            layernorm_forward(normed.data() + static_cast<long>(r0) * C, hidden + static_cast<long>(r0) * C,
                              weights_.ln_f_weight, weights_.ln_f_bias, r1 - r0, C, config_.layer_norm_epsilon);
        });
        hidden = normed.data();
    }
    linear(logits, hidden, weights_.lm_head, WeightLayout::out_in, nullptr, rows, C, config_.vocab_size, false);
}

}  // namespace gptcore
