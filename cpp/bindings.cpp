// pybind11 module gptcore._core: exposes the C++ core as it is. No logic lives here: argument conversion,
// array allocation, and releasing the GIL around compute. The docstrings are the native API's reference.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>

#include "kernels/attention.h"
#include "kernels/embedding.h"
#include "kernels/gelu.h"
#include "kernels/half.h"
#include "kernels/layernorm.h"
#include "kernels/matmul.h"
#include "kernels/matmul_quantized.h"
#include "kernels/quantize.h"
#include "kernels/softmax.h"
#include "model/gpt.h"
#include "runtime/blas.h"
#include "runtime/cpu.h"
#include "runtime/memory_bandwidth.h"
#include "sampling/philox.h"
#include "sampling/sampler.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_class.h"

namespace py = pybind11;
using namespace gptcore;

namespace {

using FloatArray = py::array_t<float, py::array::c_style>;
using IdArray = py::array_t<int32_t, py::array::c_style>;

// A read-only float32 C-contiguous view of `obj`, or TypeError naming `what`.
FloatArray float_array(const py::handle& obj, const std::string& what) {
    if (!FloatArray::check_(obj))
        throw py::type_error(what + " must be a C-contiguous float32 NumPy array, got " +
                             py::str(py::type::of(obj)).cast<std::string>() +
                             (py::isinstance<py::array>(obj)
                                  ? " of dtype " + py::str(obj.attr("dtype")).cast<std::string>()
                                  : std::string()));
    return py::reinterpret_borrow<FloatArray>(obj);
}

FloatArray new_array(std::vector<py::ssize_t> shape) { return FloatArray(shape); }

WeightLayout layout_from_name(const std::string& name) {
    if (name == "in_out") return WeightLayout::in_out;
    if (name == "out_in") return WeightLayout::out_in;
    throw py::value_error("layout must be 'in_out' or 'out_in', got '" + name + "'");
}

// A copy of `data` as a NumPy array of the given shape; an empty (0,) array when data is null.
template <typename T>
py::array_t<T> array_of(const T* data, std::vector<py::ssize_t> shape) {
    if (!data) return py::array_t<T>(std::vector<py::ssize_t>{0});
    py::array_t<T> a(shape);
    std::copy(data, data + a.size(), a.mutable_data());
    return a;
}

// A borrowed QuantizedMatrix over values ((N, K) uint16 bf16 bits or int8) and, for int8, scales (N, groups):
// TypeError / ValueError naming `name` when the arrays do not fit.
QuantizedMatrix borrow_matrix(const std::string& name, const py::handle& values, const py::handle& scales) {
    using Bf16Array = py::array_t<uint16_t, py::array::c_style>;
    using Int8Array = py::array_t<int8_t, py::array::c_style>;
    const bool bf16 = Bf16Array::check_(values), int8 = Int8Array::check_(values);
    if (!bf16 && !int8)
        throw py::type_error("matrix '" + name + "': values must be a C-contiguous uint16 (bf16 bits) or int8 array");
    py::array arr = py::reinterpret_borrow<py::array>(values);
    if (arr.ndim() != 2) throw py::value_error("matrix '" + name + "': values must be 2-D (N, K)");
    const int N = arr.shape(0), K = arr.shape(1);
    if (bf16) {
        if (!scales.is_none()) throw py::value_error("matrix '" + name + "': a bf16 matrix has no scales");
        return QuantizedMatrix::borrow(WeightFormat::bf16, N, K, arr.data(), nullptr);
    }
    FloatArray s = float_array(scales, "matrix '" + name + "' scales");
    const int groups = int8_groups(K);
    if (s.ndim() != 2 || s.shape(0) != N || s.shape(1) != groups)
        throw py::value_error("matrix '" + name + "': scales must have shape (" + std::to_string(N) + ", " +
                              std::to_string(groups) + ")");
    return QuantizedMatrix::borrow(WeightFormat::int8, N, K, arr.data(), s.data());
}

// The map the GPT constructors take: {name: float32 array} -> views.
std::map<std::string, TensorView> tensor_views(const py::dict& tensors) {
    std::map<std::string, TensorView> views;
    for (auto [key, value] : tensors) {
        const std::string name = py::str(key);
        FloatArray a = float_array(value, "tensor '" + name + "'");
        views[name] = {a.data(), std::vector<int64_t>(a.shape(), a.shape() + a.ndim())};
    }
    return views;
}

void bind_quantized_kernels(py::module_& m) {
    py::class_<QuantizedMatrix>(m, "QuantizedMatrix", "A bf16 or int8 weight matrix (N, K) (cpp/kernels/quantize.h)")
        .def_property_readonly("dtype", [](const QuantizedMatrix& w) { return weight_format_name(w.format); })
        .def_property_readonly("shape", [](const QuantizedMatrix& w) { return py::make_tuple(w.N, w.K); })
        .def_property_readonly("nbytes", &QuantizedMatrix::nbytes)
        .def_property_readonly("bf16", [](const QuantizedMatrix& w) { return array_of(w.bf16, {w.N, w.K}); },
                               "a copy of the bf16 bits (N, K) as uint16; empty (0,) for int8")
        .def_property_readonly("int8", [](const QuantizedMatrix& w) { return array_of(w.int8, {w.N, w.K}); },
                               "a copy of the int8 values (N, K); empty (0,) for bf16")
        .def_property_readonly("scales", [](const QuantizedMatrix& w) { return array_of(w.scales, {w.N, w.groups()}); },
                               "a copy of the int8 scales (N, ceil(K / group_size)); empty (0,) for bf16")
        .def("dequantize", [](const QuantizedMatrix& w) {
            auto out = new_array({w.N, w.K});
            dequantize_rows(w, 0, w.N, out.mutable_data());
            return out;
        }, "the float32 weights (N, K)");
    m.attr("INT8_GROUP_SIZE") = kInt8GroupSize;
    m.def("quantize", [](FloatArray weight, const std::string& layout, const std::string& dtype, int n_threads) {
        const WeightLayout wl = layout_from_name(layout);
        const int K = wl == WeightLayout::in_out ? weight.shape(0) : weight.shape(1);
        const int N = wl == WeightLayout::in_out ? weight.shape(1) : weight.shape(0);
        ThreadPool pool(n_threads);
        return quantize(pool, weight.data(), wl, K, N, weight_format_from_name(dtype));
    }, py::arg("weight"), py::arg("layout"), py::arg("dtype"), py::arg("n_threads") = 1,
       "the bf16 or int8 copy (N, K) of weight (K, N) for layout 'in_out' or (N, K) for 'out_in'");
    m.def("matmul_quantized_forward", [](FloatArray inp, const QuantizedMatrix& weight, std::optional<FloatArray> bias,
                                         std::optional<FloatArray> out_init, int n_threads, bool naive, bool portable,
                                         bool int8_activations) {
        const int M = inp.shape(0);
        auto out = new_array({M, weight.N});
        if (out_init) std::copy(out_init->data(), out_init->data() + out_init->size(), out.mutable_data());
        const float* b = bias ? bias->data() : nullptr;
        if (naive) {
            matmul_quantized_forward_naive(out.mutable_data(), inp.data(), weight, b, M, out_init.has_value(),
                                           int8_activations);
        } else {
            ThreadPool pool(n_threads);
            matmul_quantized_forward(pool, out.mutable_data(), inp.data(), weight, b, M, out_init.has_value(),
                                     portable);
        }
        return out;
    }, py::arg("inp"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("out") = py::none(),
       py::arg("n_threads") = 1, py::arg("naive") = false, py::arg("portable") = false,
       py::arg("int8_activations") = false,
       "inp (M, K) @ weight^T + bias for a QuantizedMatrix weight (N, K); with `out`, added to a copy of it. "
       "portable: the plain-loop decoding path instead of the AVX2 one. int8_activations (naive only): the "
       "reference of the input rows quantized as int8 decoding quantizes them (see quantizes_activations)");
    m.def("quantizes_activations", &quantizes_activations, py::arg("weight"), py::arg("M"),
          "whether matmul_quantized_forward multiplies M rows by weight as int8 x int8");
    m.def("quantize_activations", [](FloatArray x) {
        const int M = x.shape(0), K = x.shape(1), G = int8_groups(K);
        py::array_t<int8_t> q({M, K});
        auto scales = new_array({M, G});
        quantize_activations(x.data(), M, K, q.mutable_data(), scales.mutable_data());
        return py::make_tuple(q, scales);
    }, py::arg("x"), "(q (M, K) int8, scales (M, groups)) of the rows x (M, K), as int8 decoding quantizes them");
    m.def("embedding_forward_quantized", [](IdArray tokens, IdArray positions, const QuantizedMatrix& wte,
                                            FloatArray wpe, bool naive) {
        const int T = tokens.size();
        auto out = new_array({T, wte.K});
        if (naive)
            embedding_forward_naive(out.mutable_data(), tokens.data(), positions.data(), wte, wpe.data(), T);
        else
            embedding_forward(out.mutable_data(), tokens.data(), positions.data(), wte, wpe.data(), T);
        return out;
    }, py::arg("tokens"), py::arg("positions"), py::arg("wte"), py::arg("wpe"), py::arg("naive") = false,
       "out (T, C) = wte[tokens] + wpe[positions] with wte a QuantizedMatrix (V, C)");
}

void check_attention_cache(const FloatArray& q, const FloatArray& k_cache, const FloatArray& v_cache, int pos0) {
    const py::ssize_t n_kv = pos0 + q.shape(0), hd = q.shape(1);
    if (q.ndim() != 2 || pos0 < 0 || k_cache.ndim() != 2 || k_cache.shape(0) < n_kv || k_cache.shape(1) != hd ||
        v_cache.ndim() != 2 || v_cache.shape(0) < n_kv || v_cache.shape(1) != hd)
        throw py::value_error("attention: q must be (n_q, hd), pos0 >= 0, and k_cache, v_cache (>= pos0 + n_q, hd)");
}

// attention_forward over a copy of the cache in kv_dtype, as a KVCache of that dtype holds it; probs (n_q, n_kv)
// or null.
FloatArray attention(const FloatArray& q, const FloatArray& k_cache, const FloatArray& v_cache, int pos0, float scale,
                     int window, const std::string& kv_dtype, float* probs) {
    check_attention_cache(q, k_cache, v_cache, pos0);
    const int n_q = q.shape(0), hd = q.shape(1), n_kv = pos0 + n_q;
    const bool half = kv_format_from_name(kv_dtype) == KVFormat::fp16;
    auto out = new_array({n_q, hd});
    std::vector<float> scratch(attention_scratch_floats(n_q, n_kv, hd, half));
    if (half) {
        const long n = static_cast<long>(n_kv) * hd;
        std::vector<uint16_t> k(n), v(n);
        halves_from_floats(k_cache.data(), k.data(), n);
        halves_from_floats(v_cache.data(), v.data(), n);
        attention_forward(out.mutable_data(), hd, q.data(), hd, k.data(), v.data(), n_q, pos0, hd, scale, window,
                          scratch.data(), probs);
    } else {
        attention_forward(out.mutable_data(), hd, q.data(), hd, k_cache.data(), v_cache.data(), n_q, pos0, hd, scale,
                          window, scratch.data(), probs);
    }
    return out;
}

void bind_kernels(py::module_& m) {
    // Each kernel and its plain reference, on fresh output arrays, for the tests to compare.
    m.def("layernorm_forward", [](FloatArray inp, FloatArray weight, FloatArray bias, float eps, bool naive) {
        const int N = inp.shape(0), C = inp.shape(1);
        auto out = new_array({N, C});
        (naive ? layernorm_forward_naive : layernorm_forward)(out.mutable_data(), inp.data(), weight.data(),
                                                              bias.data(), N, C, eps);
        return out;
    }, py::arg("inp"), py::arg("weight"), py::arg("bias"), py::arg("eps"), py::arg("naive") = false,
       "out (N, C) = layernorm(inp (N, C)) * weight (C) + bias (C)");
    m.def("gelu_forward", [](FloatArray inp, bool naive) {
        auto out = new_array({inp.size()});
        (naive ? gelu_forward_naive : gelu_forward)(out.mutable_data(), inp.data(), inp.size());
        return out;
    }, py::arg("inp"), py::arg("naive") = false, "gelu_new (tanh form) of a flat array");
    m.def("softmax_forward", [](FloatArray x, bool naive) {
        FloatArray out = new_array({x.shape(0), x.shape(1)});
        std::copy(x.data(), x.data() + x.size(), out.mutable_data());
        (naive ? softmax_forward_naive : softmax_forward)(out.mutable_data(), x.shape(0), x.shape(1));
        return out;
    }, py::arg("x"), py::arg("naive") = false, "row-wise softmax of x (N, C)");
    m.def("embedding_forward", [](IdArray tokens, IdArray positions, FloatArray wte, FloatArray wpe, bool naive) {
        const int T = tokens.size(), C = wte.shape(1);
        auto out = new_array({T, C});
        if (naive)
            embedding_forward_naive(out.mutable_data(), tokens.data(), positions.data(), wte.data(), wpe.data(), T, C);
        else
            embedding_forward(out.mutable_data(), tokens.data(), positions.data(), wte.data(), wpe.data(), T, C);
        return out;
    }, py::arg("tokens"), py::arg("positions"), py::arg("wte"), py::arg("wpe"), py::arg("naive") = false,
       "out (T, C) = wte[tokens] + wpe[positions]; ids are not checked here");
    m.def("matmul_forward", [](FloatArray inp, FloatArray weight, std::optional<FloatArray> bias,
                               const std::string& layout, std::optional<FloatArray> out_init, int n_threads,
                               bool naive) {
        const WeightLayout wl = layout_from_name(layout);
        const int M = inp.shape(0), K = inp.shape(1);
        const int N = wl == WeightLayout::in_out ? weight.shape(1) : weight.shape(0);
        auto out = new_array({M, N});
        if (out_init) std::copy(out_init->data(), out_init->data() + out_init->size(), out.mutable_data());
        const float* b = bias ? bias->data() : nullptr;
        if (naive) {
            matmul_forward_naive(out.mutable_data(), inp.data(), weight.data(), wl, b, M, K, N, out_init.has_value());
        } else {
            ThreadPool pool(n_threads);
            matmul_forward(pool, out.mutable_data(), inp.data(), weight.data(), wl, b, M, K, N, out_init.has_value());
        }
        return out;
    }, py::arg("inp"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("layout") = "in_out",
       py::arg("out") = py::none(), py::arg("n_threads") = 1, py::arg("naive") = false,
       "inp (M, K) @ weight + bias; weight is (K, N) for layout 'in_out', (N, K) for 'out_in'. "
       "With `out` given, the product is added to a copy of it (the residual add).");
    m.def("attention_forward", [](FloatArray q, FloatArray k_cache, FloatArray v_cache, int pos0, float scale,
                                  int window, bool naive, const std::string& kv_dtype) {
        if (!naive) return attention(q, k_cache, v_cache, pos0, scale, window, kv_dtype, nullptr);
        if (kv_format_from_name(kv_dtype) != KVFormat::fp32)
            throw py::value_error("attention_forward: the naive reference reads a float32 cache");
        check_attention_cache(q, k_cache, v_cache, pos0);
        const int n_q = q.shape(0), hd = q.shape(1);
        auto out = new_array({n_q, hd});
        attention_forward_naive(out.mutable_data(), hd, q.data(), hd, k_cache.data(), v_cache.data(), n_q, pos0, hd,
                                scale, window);
        return out;
    }, py::arg("q"), py::arg("k_cache"), py::arg("v_cache"), py::arg("pos0"), py::arg("scale"),
       py::arg("window") = 0, py::arg("naive") = false, py::arg("kv_dtype") = "float32",
       "causal attention of q (n_q, hd) at positions pos0.. over k_cache, v_cache (pos0 + n_q, hd); kv_dtype "
       "'float16' stores the cache as float16 first, as a float16 KVCache does");
    m.def("attention_probs", [](FloatArray q, FloatArray k_cache, FloatArray v_cache, int pos0, float scale,
                                int window, const std::string& kv_dtype) {
        auto probs = new_array({static_cast<int>(q.shape(0)), pos0 + static_cast<int>(q.shape(0))});
        auto out = attention(q, k_cache, v_cache, pos0, scale, window, kv_dtype, probs.mutable_data());
        return py::make_tuple(out, probs);
    }, py::arg("q"), py::arg("k_cache"), py::arg("v_cache"), py::arg("pos0"), py::arg("scale"), py::arg("window") = 0,
       py::arg("kv_dtype") = "float32", "attention_forward that also returns the probabilities (n_q, n_kv)");
    m.def("halves_from_floats", [](FloatArray x, bool portable) {
        py::array_t<uint16_t> out(x.size());
        halves_from_floats(x.data(), out.mutable_data(), x.size(), portable);
        return out;
    }, py::arg("x"), py::arg("portable") = false, "float16 bits (uint16) of the values of x, flattened");
    m.def("floats_from_halves", [](const py::array_t<uint16_t, py::array::c_style | py::array::forcecast>& h,
                                   bool portable) {
        auto out = new_array({static_cast<int>(h.size())});
        floats_from_halves(h.data(), out.mutable_data(), h.size(), portable);
        return out;
    }, py::arg("h"), py::arg("portable") = false, "float32 values of float16 bits (uint16), flattened");
}

void bind_sampling(py::module_& m) {
    py::class_<SamplingParams>(m, "SamplingParams",
                               "Options shared by the sequences of one generate call (cpp/sampling/sampler.h)")
        .def(py::init<>())
        .def_readwrite("do_sample", &SamplingParams::do_sample)
        .def_readwrite("temperature", &SamplingParams::temperature)
        .def_readwrite("top_k", &SamplingParams::top_k)
        .def_readwrite("top_p", &SamplingParams::top_p)
        .def_readwrite("min_p", &SamplingParams::min_p)
        .def_readwrite("typical_p", &SamplingParams::typical_p)
        .def_readwrite("repetition_penalty", &SamplingParams::repetition_penalty)
        .def_readwrite("presence_penalty", &SamplingParams::presence_penalty)
        .def_readwrite("frequency_penalty", &SamplingParams::frequency_penalty)
        .def_readwrite("no_repeat_ngram_size", &SamplingParams::no_repeat_ngram_size)
        .def_readwrite("min_new_tokens", &SamplingParams::min_new_tokens)
        .def_readwrite("eos_token_ids", &SamplingParams::eos_token_ids)
        .def_readwrite("bad_words_ids", &SamplingParams::bad_words_ids)
        .def_readwrite("logit_bias", &SamplingParams::logit_bias)
        .def("validate", &SamplingParams::validate, py::arg("vocab_size"),
             "Raises ValueError naming the first option out of range");

    py::class_<Sampler>(m, "Sampler",
                        "Picks each sequence's next token: logits processors in transformers' order, then a "
                        "draw from the sequence's own Philox stream, or the argmax")
        .def(py::init<SamplingParams, int>(), py::arg("params"), py::arg("vocab_size"))
        .def_property_readonly("params", &Sampler::params)
        .def("add_sequence",
             [](Sampler& self, IdArray prompt, uint64_t seed, uint64_t stream) {
                 return self.add_sequence(prompt.data(), prompt.size(), seed, stream);
             },
             py::arg("prompt"), py::arg("seed"), py::arg("stream") = 0,
             "Add a sequence (its int32 prompt ids, its seed and stream); returns its index")
        .def("tokens", [](const Sampler& self, int seq) { return self.sequence(seq).tokens; }, py::arg("seq"),
             "the sequence's prompt and generated tokens")
        .def("process",
             [](const Sampler& self, int seq, FloatArray logits) {
                 auto out = new_array({logits.size()});
                 std::copy(logits.data(), logits.data() + logits.size(), out.mutable_data());
                 self.process(seq, out.mutable_data());
                 return out;
             },
             py::arg("seq"), py::arg("logits"), "the processed copy of logits (V) a draw for `seq` would use")
        .def("sample",
             [](Sampler& self, const std::vector<int>& seqs, FloatArray logits) {
                 if (logits.ndim() != 2 || logits.shape(0) != static_cast<py::ssize_t>(seqs.size()) ||
                     logits.shape(1) != self.vocab_size())
                     throw py::value_error("logits must have shape (len(seqs), vocab_size)");
                 std::vector<SampledToken> picked(seqs.size());
                 {
                     py::gil_scoped_release release;
                     self.sample(seqs.data(), seqs.size(), logits.data(), picked.data());
                 }
                 py::array_t<int32_t> tokens(picked.size());
                 FloatArray logprobs(picked.size()), raw_logprobs(picked.size());
                 for (size_t i = 0; i < picked.size(); ++i) {
                     tokens.mutable_at(i) = picked[i].token;
                     logprobs.mutable_at(i) = picked[i].logprob;
                     raw_logprobs.mutable_at(i) = picked[i].raw_logprob;
                 }
                 return py::make_tuple(tokens, logprobs, raw_logprobs);
             },
             py::arg("seqs"), py::arg("logits"),
             "Pick the next token of each of seqs from logits (len(seqs), V) and append it. Returns (tokens, "
             "logprobs under the processed distribution, raw_logprobs under the model's). Releases the GIL.");

    m.def("philox4x32_10", &philox4x32_10, py::arg("counter"), py::arg("key"), "the Philox4x32-10 bijection");
    m.def("philox_uniform", &philox_uniform, py::arg("seed"), py::arg("stream"), py::arg("step"),
          "uniform double in [0, 1): draw `step` of `stream` under `seed`");
}

// The UTF-8 bytes a str caches; raises UnicodeEncodeError (lone surrogates) like str.encode.
std::string_view utf8_view(const py::handle& text) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
    if (!data) throw py::error_already_set();
    return {data, static_cast<size_t>(size)};
}

void bind_tokenizer(py::module_& m) {
    py::class_<Tokenizer>(m, "Tokenizer",
                          "GPT-2 byte-level BPE over a vocabulary; gptcore.Tokenizer is the public API around it")
        .def(py::init<std::vector<std::string>, const std::vector<std::pair<int32_t, int32_t>>&,
                      const std::vector<int32_t>&>(),
             py::arg("token_bytes"), py::arg("merges"), py::arg("merged_ids"),
             "token_bytes[id]: bytes of each token; merges[rank] = (left id, right id) making merged_ids[rank]")
        .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
        .def("encode", [](Tokenizer& self, const py::str& text) {
            const std::string_view utf8 = utf8_view(text);
            py::gil_scoped_release release;
            return self.encode(utf8);
        }, py::arg("text"), "token ids of text, special tokens not recognised. Releases the GIL.")
        .def("encode_batch", [](Tokenizer& self, const std::vector<py::str>& texts, int n_threads) {
            std::vector<std::string_view> utf8;
            for (const py::str& t : texts) utf8.push_back(utf8_view(t));
            py::gil_scoped_release release;
            return self.encode_batch(utf8, n_threads);
        }, py::arg("texts"), py::arg("n_threads"), "encode() of each text over n_threads threads. Releases the GIL.")
        .def("decode", [](const Tokenizer& self, const std::vector<int64_t>& ids) {
            std::string bytes;
            {
                py::gil_scoped_release release;
                bytes = self.decode(ids.data(), ids.size());
            }
            return py::bytes(bytes);
        }, py::arg("ids"), "the bytes of ids; ValueError naming an id outside the vocabulary")
        .def("bpe", [](const Tokenizer& self, const py::bytes& piece, bool naive) {
            return self.bpe(std::string_view(piece), naive);
        }, py::arg("piece"), py::arg("naive") = false, "one piece through BPE alone (no cache), for tests");

    m.def("pretokenize", [](const py::str& text) {
        const std::string_view utf8 = utf8_view(text);
        py::list pieces;
        for (size_t pos = 0, end; pos < utf8.size(); pos = end) {
            end = pretoken_end(utf8.data(), utf8.size(), pos);
            pieces.append(py::str(utf8.data() + pos, end - pos));
        }
        return pieces;
    }, py::arg("text"), "GPT-2's pre-tokenizer pieces of text, for tests");
    m.def("unicode_char_classes", [] {
        std::string classes(0x110000, '\0');
        for (uint32_t cp = 0; cp < classes.size(); ++cp) classes[cp] = char(char_class(cp));
        return py::bytes(classes);
    }, "the pre-tokenizer's class of every code point: 0 other, 1 \\p{L}, 2 \\p{N}, 3 \\s; for tests");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "gptcore's C++ core: kernels, the KV cache and the GPT forward pass";

    py::class_<GPTConfig>(m, "GPTConfig", "Model hyper-parameters, as the C++ core reads them")
        .def(py::init<>())
        .def_readwrite("vocab_size", &GPTConfig::vocab_size)
        .def_readwrite("n_positions", &GPTConfig::n_positions)
        .def_readwrite("n_embd", &GPTConfig::n_embd)
        .def_readwrite("n_layer", &GPTConfig::n_layer)
        .def_readwrite("n_head", &GPTConfig::n_head)
        .def_readwrite("n_inner", &GPTConfig::n_inner)
        .def_readwrite("layer_norm_epsilon", &GPTConfig::layer_norm_epsilon)
        .def_readwrite("scale_attn_weights", &GPTConfig::scale_attn_weights)
        .def_readwrite("scale_attn_by_inverse_layer_idx", &GPTConfig::scale_attn_by_inverse_layer_idx)
        .def_property_readonly("head_dim", &GPTConfig::head_dim)
        .def("validate", &GPTConfig::validate, "Raises ValueError naming the first field out of range");

    m.def("converted_layout", [](const std::string& name) -> std::optional<std::string> {
        const auto layout = converted_matrix_layout(name);
        if (!layout) return std::nullopt;
        return *layout == WeightLayout::in_out ? "in_out" : "out_in";
    }, py::arg("name"),
          "how a bf16 / int8 model converts tensor `name` (core name): 'in_out' (the blocks' linear layers, stored "
          "(K, N) in the checkpoint) or 'out_in' (wte, lm_head: (N, K)); None for the tensors that stay float32");
    m.def("gpt_tensor_shapes", &gpt_tensor_shapes, py::arg("config"),
          "[(name, shape)] of the tensors a config needs; 'lm_head.weight' is optional (tied to wte)");

    py::class_<KVCache>(m, "KVCache",
                        "Keys and values of every layer for n_slots sequences of up to `capacity` positions")
        .def(py::init([](const GPTConfig& config, int n_slots, int capacity, const std::string& dtype) {
                 return std::make_unique<KVCache>(config, n_slots, capacity, kv_format_from_name(dtype));
             }),
             py::arg("config"), py::arg("n_slots"), py::arg("capacity"), py::arg("dtype") = "float32",
             "dtype: how keys and values are stored, 'float32' or 'float16' (half the bytes; attention widens "
             "them to float32)")
        .def_property_readonly("dtype", [](const KVCache& self) { return kv_format_name(self.format()); })
        .def_property_readonly("n_slots", &KVCache::n_slots)
        .def_property_readonly("capacity", &KVCache::capacity)
        .def_property_readonly("nbytes", &KVCache::bytes)
        .def("length", &KVCache::length, py::arg("slot"), "positions filled in a slot")
        .def("set_length", &KVCache::set_length, py::arg("slot"), py::arg("length"),
             "truncate a slot (0 frees it for a new sequence)");

    py::class_<GPT>(m, "GPT", "The forward pass of a GPT-2 model over borrowed float32 weights")
        .def(py::init([](const GPTConfig& config, const py::dict& tensors, int n_threads) {
                 return std::make_unique<GPT>(config, tensor_views(tensors), n_threads);
             }),
             py::arg("config"), py::arg("tensors"), py::arg("n_threads"),
             py::keep_alive<1, 3>(),  // the model borrows the arrays' memory
             "A float32 model over the arrays themselves (no copy). tensors: {name: float32 array} by Hugging Face "
             "GPT-2 names without the 'transformer.' prefix")
        .def_static("quantized", [](const GPTConfig& config, const py::dict& tensors, int n_threads,
                                    const std::string& dtype) {
                 const WeightFormat format = weight_format_from_name(dtype);
                 if (format == WeightFormat::fp32)
                     throw py::value_error("GPT.quantized makes bf16 or int8 models; GPT() borrows float32 weights");
                 const auto views = tensor_views(tensors);
                 py::gil_scoped_release release;
                 return std::make_unique<GPT>(config, views, n_threads, format);
             },
             py::arg("config"), py::arg("tensors"), py::arg("n_threads"), py::arg("dtype"),
             "A model with the linear layers' matrices and wte/lm_head converted to dtype 'bf16' or 'int8' and "
             "the other tensors copied: it keeps no reference to the arrays. Releases the GIL while converting.")
        .def_static("converted", [](const GPTConfig& config, const py::dict& vectors, const py::dict& matrices,
                                    int n_threads) {
                 std::map<std::string, QuantizedMatrix> borrowed;
                 for (auto [key, value] : matrices) {
                     const std::string name = py::str(key);
                     auto pair = py::reinterpret_borrow<py::tuple>(value);
                     if (!py::isinstance<py::tuple>(value) || pair.size() != 2)
                         throw py::type_error("matrix '" + name + "' must be a (values, scales or None) tuple");
                     borrowed.emplace(name, borrow_matrix(name, pair[0], pair[1]));
                 }
                 return std::make_unique<GPT>(config, tensor_views(vectors), borrowed, n_threads);
             },
             py::arg("config"), py::arg("vectors"), py::arg("matrices"), py::arg("n_threads"),
             py::keep_alive<0, 2>(), py::keep_alive<0, 3>(),  // the model borrows every array's memory
             "A bf16 / int8 model over weights converted ahead of time, with no copy: vectors {name: float32 "
             "array} (layer norms, biases, wpe), matrices {name: (values, scales)}, values (N, K) uint16 bf16 "
             "bits with scales None, or int8 with float32 scales (N, ceil(K / INT8_GROUP_SIZE))")
        .def_property_readonly("config", &GPT::config)
        .def_property_readonly("n_threads", &GPT::n_threads)
        .def_property_readonly("dtype", [](const GPT& self) { return weight_format_name(self.format()); },
                               "'fp32', 'bf16' or 'int8': the precision of the weight matrices")
        .def_property_readonly("weights_nbytes", &GPT::weights_nbytes,
                               "bytes of the weights the forward pass reads (borrowed or owned)")
        .def("forward",
             [](GPT& self, KVCache& cache, IdArray tokens, const std::vector<std::pair<int, int>>& segments,
                bool all_logits) {
                 std::vector<Segment> segs;
                 for (auto [slot, n] : segments) segs.push_back({slot, n});
                 const LogitsFor which = all_logits ? LogitsFor::all_tokens : LogitsFor::last_token;
                 const int T = tokens.size();
                 auto logits = new_array({GPT::logits_rows(T, segs.size(), which), self.config().vocab_size});
                 float* out = logits.mutable_data();
                 const int32_t* ids = tokens.data();
                 py::gil_scoped_release release;
                 self.forward(cache, ids, T, segs.data(), segs.size(), which, out);
                 return logits;
             },
             py::arg("cache"), py::arg("tokens"), py::arg("segments"), py::arg("all_logits"),
             "Run tokens (int32, the segments' tokens concatenated) through the model, appending to the cache. "
             "segments: [(slot, n_tokens)]. Returns float32 logits (n_tokens, V) if all_logits, else "
             "(n_segments, V) for each segment's last token. Releases the GIL.")
        .def("lm_head",
             [](GPT& self, const py::array_t<float, py::array::c_style | py::array::forcecast>& hidden,
                bool final_norm) {
                 const GPTConfig& c = self.config();
                 if (hidden.ndim() != 2 || hidden.shape(1) != c.n_embd || hidden.shape(0) < 1)
                     throw py::value_error("lm_head: hidden must have shape (rows >= 1, n_embd=" +
                                           std::to_string(c.n_embd) + ")");
                 const int rows = static_cast<int>(hidden.shape(0));
                 auto logits = new_array({rows, c.vocab_size});
                 float* out = logits.mutable_data();
                 const float* in = hidden.data();
                 py::gil_scoped_release release;
                 self.lm_head(in, rows, final_norm, out);
                 return logits;
             },
             py::arg("hidden"), py::arg("final_norm"),
             "float32 logits (rows, V) of hidden states (rows, n_embd): the final layer norm first when "
             "final_norm, then the LM head, in the model's precision. Releases the GIL.")
        .def("trace",
             [](GPT& self, KVCache& cache, IdArray tokens, int slot, bool hidden_states, bool attentions) {
                 const GPTConfig& c = self.config();
                 const int T = tokens.size();
                 const Segment seg{slot, T};
                 const int n_kv = cache.length(slot) + T;
                 auto logits = new_array({T, c.vocab_size});
                 std::optional<FloatArray> hs, att;
                 if (hidden_states) hs = new_array({c.n_layer + 1, T, c.n_embd});
                 if (attentions) att = new_array({c.n_layer, c.n_head, T, n_kv});
                 ForwardTrace trace{hs ? hs->mutable_data() : nullptr, att ? att->mutable_data() : nullptr};
                 {
                     py::gil_scoped_release release;
                     self.forward(cache, tokens.data(), T, &seg, 1, LogitsFor::all_tokens, logits.mutable_data(),
                                  trace);
                 }
                 return py::make_tuple(logits, hs ? py::object(*hs) : py::none(), att ? py::object(*att) : py::none());
             },
             py::arg("cache"), py::arg("tokens"), py::arg("slot"), py::arg("hidden_states"), py::arg("attentions"),
             "forward() of one sequence's tokens into `slot` that also returns (logits (T, V), hidden_states "
             "(n_layer + 1, T, C) or None, attentions (n_layer, n_head, T, n_kv) or None). hidden_states are "
             "each layer's input and, last, the final layer norm's output (transformers' convention).");

    m.def("blas_name", [] { return GPTCORE_BLAS_NAME; }, "'scipy' (scipy-openblas32 wheel) or 'system'");
    m.def("blas_config", [] { return std::string(blas::config()); }, "OpenBLAS's own build description");
    m.def("blas_num_threads", &blas::get_num_threads, "OpenBLAS's own thread count (1 once a model exists)");
    m.def("simd_level", [] { return simd_level_name(simd_detected()); }, "'avx512', 'avx2' or 'generic'");
    m.def("physical_cores", &physical_cores, "physical cores this process may run on");
    m.def("measure_read_bandwidth", [](std::size_t nbytes, int n_threads, int repeats) {
        ThreadPool pool(n_threads);
        py::gil_scoped_release release;
        return measure_read_bandwidth(pool, nbytes, repeats);
    }, py::arg("nbytes") = std::size_t(512) << 20, py::arg("n_threads") = 1, py::arg("repeats") = 5,
       "memory read bandwidth in GB/s (best of `repeats` passes over nbytes), for rooflines in benchmarks");

    py::module_ kernels = m.def_submodule("kernels", "each kernel and its plain reference, for tests; quantize also writes converted weights (converted.py)");
    bind_kernels(kernels);
    bind_quantized_kernels(kernels);
    bind_sampling(m);
    bind_tokenizer(m);
}
