"""Reduced precision: the bf16 / int8 conversions and kernels against NumPy and their plain references, and bf16 /
int8 models against the same model in float32.

Tolerances, stated once (docs/precision.md explains them):
- kernels: a fast kernel is within a few float32 ulps of sum |x||w| of its double-precision reference over the
  same reduced-precision weights (and, for int8 decoding, the same quantized activations); conversions are
  bit-exact against NumPy.
- models: max |logit - fp32 logit| <= LOGIT_RTOL[dtype] * max |fp32 logit|, for the full forward and decoding.
- at the 124M shape, on GREEDY_PROMPTS: decoding logits within LOGIT_RTOL of fp32's along fp32's greedy path,
  the argmax agreeing at >= TOP1_AGREEMENT of the steps, greedy output equal to fp32's until a near-tie of fp32's
  top two logits, and GREEDY_MATCHED[dtype] equal tokens in all (see the comment there).
"""

from __future__ import annotations

import numpy as np
import pytest

import gptcore
from checkpoints import assert_logits_close, random_gpt2, save
from gptcore import _core

K = _core.kernels
G = K.INT8_GROUP_SIZE
rng = np.random.default_rng(4321)

DTYPES = ["bf16", "int8"]
LOGIT_RTOL = {"bf16": 1.5e-2, "int8": 5e-2}


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def bf16_reference(w: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bits, rounding to nearest even; NaN stays a quiet NaN."""
    bits = w.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(w)
    rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def int8_reference(w: np.ndarray):
    """(q, scales) of w (N, K): per group of G along K, scale = max |w| / 127 and q = w / scale rounded to even."""
    N, K_ = w.shape
    groups = -(-K_ // G)
    q = np.zeros((N, K_), np.int8)
    scales = np.zeros((N, groups), np.float32)
    for g in range(groups):
        block = w[:, g * G:(g + 1) * G]
        scale = np.abs(block).max(1) / np.float32(127)
        scales[:, g] = scale
        safe = np.where(scale > 0, scale, np.float32(1))[:, None]
        q[:, g * G:(g + 1) * G] = np.where(scale[:, None] > 0, np.rint(block / safe), 0).astype(np.int8)
    return q, scales


def dequantized(w: np.ndarray, dtype: str) -> np.ndarray:
    """The float32 weights (N, K) a kernel should compute with, from the NumPy references."""
    if dtype == "bf16":
        return (bf16_reference(w).astype(np.uint32) << 16).view(np.float32)
    q, scales = int8_reference(w)
    return q.astype(np.float32) * np.repeat(scales, G, axis=1)[:, :w.shape[1]]


# ---------------------------------------------------------------------------------------------------- kernels

@pytest.mark.parametrize("layout", ["in_out", "out_in"])
@pytest.mark.parametrize("K_,N", [(1, 1), (7, 3), (37, 50), (130, 33)])
def test_bf16_conversion_rounds_to_nearest_even(layout, K_, N):
    w = randn(N, K_)  # (N, K)
    specials = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, -(1.0 + 2**-8), np.inf, -np.inf, np.nan, 1e-40, 3.4e38],
                        np.float32)  # ties round to even (down, up), overflow to inf, subnormals
    flat = w.reshape(-1)
    flat[:min(flat.size, specials.size)] = specials[:flat.size]
    q = K.quantize(np.ascontiguousarray(w.T) if layout == "in_out" else w, layout, "bf16", n_threads=3)
    assert q.dtype == "bf16" and q.shape == (N, K_) and q.nbytes == 2 * N * K_
    np.testing.assert_array_equal(q.bf16, bf16_reference(w))
    np.testing.assert_array_equal(q.dequantize(), dequantized(w, "bf16"))


@pytest.mark.parametrize("layout", ["in_out", "out_in"])
@pytest.mark.parametrize("K_,N", [(1, 1), (7, 3), (G, 5), (G + 1, 4), (130, 33), (3 * G + 17, 20)])
def test_int8_quantization_per_group(layout, K_, N):
    w = randn(N, K_)
    w[0, :min(K_, G)] = 0.0  # an all-zero group: scale 0, values 0
    if K_ > 2:
        w[-1, 1] = 40.0  # an outlier coarsens only its own group
    q = K.quantize(np.ascontiguousarray(w.T) if layout == "in_out" else w, layout, "int8", n_threads=3)
    want_q, want_scales = int8_reference(w)
    assert q.dtype == "int8" and q.shape == (N, K_)
    np.testing.assert_array_equal(q.int8, want_q)
    np.testing.assert_array_equal(q.scales, want_scales)
    assert q.nbytes == N * K_ + 4 * want_scales.size
    assert np.abs(q.int8).max(initial=0) <= 127
    np.testing.assert_array_equal(q.dequantize(), dequantized(w, "int8"))
    # Symmetric rounding: each weight is within half a step of its group's scale.
    err = np.abs(q.dequantize() - w)
    assert np.all(err <= 0.5 * np.repeat(q.scales, G, axis=1)[:, :K_] * (1 + 1e-6))


def test_quantize_rejects_non_finite_weights_and_fp32():
    w = randn(4, 70)
    w[2, 65] = np.inf
    with pytest.raises(ValueError, match="output 2 is not finite"):
        K.quantize(w, "out_in", "int8")
    with pytest.raises(ValueError, match="'fp32', 'bf16' or 'int8', got 'int4'"):
        K.quantize(w, "out_in", "int4")
    with pytest.raises(ValueError, match="bf16 or int8"):
        K.quantize(w, "out_in", "fp32")


def matmul_tolerance(x, w):
    """Rounding bound: a few float32 ulps of sum |x||w| per output; w (N, K)."""
    return 1e-5 * (np.abs(x).astype(np.float64) @ np.abs(w).T.astype(np.float64)) + 1e-6


# M <= 8 takes the decoding kernels (AVX2 and portable), M > 8 the widened panels and sgemm; K covers the
# 32-weight blocks, the 8-weight steps and the scalar tail, and groups cut short.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M", [1, 2, 3, 4, 5, 7, 8, 9, 40])
@pytest.mark.parametrize("K_,N", [(1, 1), (3, 17), (37, 50), (64, 100), (130, 48), (203, 70)])
def test_matmul_quantized(dtype, M, K_, N):
    x, w, b = randn(M, K_), randn(N, K_), randn(N)
    q = K.quantize(w, "out_in", dtype)
    wq = dequantized(w, dtype)
    tol = matmul_tolerance(x, wq)
    exact = x.astype(np.float64) @ wq.T.astype(np.float64) + b
    int8_activations = K.quantizes_activations(q, M)
    assert int8_activations == (dtype == "int8" and M <= 8)
    naive = K.matmul_quantized_forward(x, q, b, naive=True, int8_activations=int8_activations)
    if int8_activations:
        # Each input is off by at most half its group's step (max |x| / 127 / 2), so each output by at most
        # sum_k |w_k| * step_k / 2 from the float32-input product.
        xq, xs = K.quantize_activations(x)
        step = np.repeat(xs, 64, axis=1)[:, :K_].astype(np.float64)
        assert np.all(np.abs(xq * step - x) <= step / 2 * (1 + 1e-6) + 1e-30)
        bound = step @ np.abs(wq.T).astype(np.float64) / 2 * (1 + 1e-5) + tol
        assert np.all(np.abs(naive - exact) <= bound)
        # ... and the error is a real effect, not zero: the fast path differs from the float32-input product.
        assert K_ < 3 or np.abs(naive - exact).max() > 0
    else:
        assert np.all(np.abs(naive - exact) <= tol)
    one_thread = K.matmul_quantized_forward(x, q, b, n_threads=1)
    assert np.all(np.abs(one_thread - naive) <= tol), f"max diff {np.abs(one_thread - naive).max()}"
    # Each output is summed by one thread in a fixed order: the thread count changes nothing.
    np.testing.assert_array_equal(K.matmul_quantized_forward(x, q, b, n_threads=3), one_thread)
    portable = K.matmul_quantized_forward(x, q, b, n_threads=2, portable=True)
    assert np.all(np.abs(portable - naive) <= tol), f"portable: max diff {np.abs(portable - naive).max()}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M", [1, 6, 12])
def test_matmul_quantized_accumulates_without_bias(dtype, M):
    x, w, residual = randn(M, 75), randn(40, 75), randn(M, 40)
    q = K.quantize(w, "out_in", dtype)
    wq = dequantized(w, dtype)
    expected = residual + x.astype(np.float64) @ wq.T
    tol = matmul_tolerance(x, wq) + 1e-6 * np.abs(residual)
    if K.quantizes_activations(q, M):
        xq, xs = K.quantize_activations(x)
        x_used = (xq * np.repeat(xs, 64, axis=1)[:, :75]).astype(np.float64)
        expected = residual + x_used @ wq.T
    for naive in (True, False):
        out = K.matmul_quantized_forward(x, q, None, out=residual, n_threads=2, naive=naive,
                                         int8_activations=K.quantizes_activations(q, M))
        assert np.all(np.abs(out - expected) <= tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T,C", [(1, 1), (5, 13), (9, 200)])
def test_embedding_quantized(dtype, T, C):
    V, P = 11, 10
    wte, wpe = randn(V, C), randn(P, C)
    q = K.quantize(wte, "out_in", dtype)
    tokens = rng.integers(0, V, T).astype(np.int32)
    positions = rng.integers(0, P, T).astype(np.int32)
    numpy_ref = dequantized(wte, dtype)[tokens] + wpe[positions]
    np.testing.assert_array_equal(K.embedding_forward_quantized(tokens, positions, q, wpe, naive=True), numpy_ref)
    np.testing.assert_array_equal(K.embedding_forward_quantized(tokens, positions, q, wpe), numpy_ref)


# ----------------------------------------------------------------------------------------------------- models

CONFIGS = {
    "tiny": dict(),
    "odd-sizes": dict(n_embd=40, n_head=4, n_inner=100, vocab_size=50, n_positions=16, n_layer=3),
    "untied-head": dict(tie_word_embeddings=False, n_embd=72, n_head=2),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def checkpoint(request, tmp_path_factory):
    return save(random_gpt2(seed=len(request.param), **CONFIGS[request.param]), tmp_path_factory.mktemp(request.param))


@pytest.mark.parametrize("dtype", DTYPES)
def test_logits_close_to_fp32(checkpoint, dtype):
    fp32 = gptcore.GPT.from_pretrained(checkpoint)
    model = gptcore.GPT.from_pretrained(checkpoint, dtype=dtype, n_threads=2)
    ids = np.random.default_rng(7).integers(0, fp32.vocab_size, fp32.n_positions)
    expected = fp32.logits(ids)
    full = model.logits(ids)
    assert_logits_close(full, expected, f"{dtype} full forward", rtol=LOGIT_RTOL[dtype])
    # Decoding through the cache (the streaming kernels). bf16 agrees with the full forward (widened panels +
    # sgemm) to float32 rounding: both compute with the same weights. int8 decoding also quantizes the
    # activations (int8 x int8 products), so it is held to the same tolerance against fp32 as the full forward.
    cache = model.new_cache()
    chunks = [model.forward(cache, ids[:9], [(0, 9)], all_logits=True)]
    chunks += [model.forward(cache, ids[i:i + 1], [(0, 1)]) for i in range(9, len(ids))]
    decoded = np.concatenate(chunks)
    if dtype == "int8":
        assert_logits_close(decoded, expected, "int8 decoding vs fp32", rtol=LOGIT_RTOL[dtype])
        assert np.abs(decoded[9:] - full[9:]).max() > 0, "int8 decoding should take the int8 x int8 path"
    else:
        assert_logits_close(decoded, full, f"{dtype} decoding vs full forward", rtol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_results_do_not_depend_on_the_thread_count(checkpoint, dtype):
    ids = np.arange(12) % 40
    logits = [gptcore.GPT.from_pretrained(checkpoint, dtype=dtype, n_threads=n).logits(ids[:n_ids])
              for n in (1, 3) for n_ids in (12, 5)]
    np.testing.assert_array_equal(logits[0], logits[2])
    np.testing.assert_array_equal(logits[1], logits[3])


@pytest.mark.parametrize("dtype,alias", [("fp32", "float32"), ("bf16", "bfloat16"), ("int8", "int8")])
def test_dtype_names_and_sizes(checkpoint, dtype, alias):
    fp32 = gptcore.GPT.from_pretrained(checkpoint)
    model = gptcore.GPT.from_pretrained(checkpoint, dtype=alias)
    assert model.dtype == dtype and fp32.dtype == "fp32"
    assert model.num_parameters() == fp32.num_parameters()
    ratio = model.weights_nbytes() / fp32.weights_nbytes()
    assert {"fp32": 1.0, "bf16": 0.5, "int8": 0.25}[dtype] <= ratio <= {"fp32": 1.0, "bf16": 0.6, "int8": 0.4}[dtype]


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "int8"])
def test_kv_cache_dtype_follows_the_weights_unless_chosen(checkpoint, dtype):
    """fp32 models keep float32 keys and values (transformers' numbers); bf16 / int8 ones default to float16, half
    the bytes; from_pretrained(kv_dtype=...) and new_cache(dtype=...) choose."""
    model = gptcore.GPT.from_pretrained(checkpoint, dtype=dtype)
    default = "float32" if dtype == "fp32" else "float16"
    assert model.kv_dtype == default and model.new_cache().dtype == default
    assert f"kv_dtype={default}" in repr(model)
    c = model.config
    floats = 2 * c.n_layer * 3 * c.n_positions * c.n_embd
    assert model.new_cache(3, dtype="fp32").nbytes == 4 * floats
    assert model.new_cache(3, dtype="fp16").nbytes == 2 * floats
    for chosen in ("float32", "float16"):
        assert gptcore.GPT.from_pretrained(checkpoint, dtype=dtype, kv_dtype=chosen).new_cache().dtype == chosen


@pytest.mark.parametrize("dtype", [None, "float16", "FP32", "int4", 8, "fp 32"])
def test_bad_dtype(checkpoint, dtype):
    with pytest.raises(ValueError, match=r"dtype must be one of 'fp32', 'float32', 'bf16', 'bfloat16', 'int8', got"):
        gptcore.GPT.from_pretrained(checkpoint, dtype=dtype)


def test_core_quantized_constructor_refuses_fp32(checkpoint):
    model = gptcore.GPT.from_pretrained(checkpoint)
    tensors = {name: np.zeros(shape, np.float32) for name, shape in _core.gpt_tensor_shapes(model.config)
               if name != "lm_head.weight"}
    with pytest.raises(ValueError, match="GPT.quantized makes bf16 or int8 models"):
        _core.GPT.quantized(model.config, tensors, 1, "fp32")
    tensors["h.0.mlp.c_fc.weight"][1, 2] = np.nan
    with pytest.raises(ValueError, match=r"tensor 'h.0.mlp.c_fc.weight': a weight of output 2 is not finite"):
        _core.GPT.quantized(model.config, tensors, 1, "int8")


def mapped_files():
    with open("/proc/self/maps") as f:
        return f.read()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="needs Linux's /proc")
def test_reduced_precision_keeps_no_mapping_of_the_checkpoint(checkpoint):
    """fp32 borrows the memory-mapped checkpoint; bf16 / int8 hold only their copy, so the map is closed."""
    import gc
    path = str(checkpoint) + "/model.safetensors"
    gc.collect()
    assert path not in mapped_files()
    fp32 = gptcore.GPT.from_pretrained(checkpoint)
    assert path in mapped_files()
    del fp32
    for dtype in DTYPES:
        model = gptcore.GPT.from_pretrained(checkpoint, dtype=dtype)
        gc.collect()
        assert path not in mapped_files(), f"{dtype} model keeps the checkpoint mapped"
        assert model.logits([1, 2, 3]).shape == (3, model.vocab_size)


# ---------------------------------------------------------------------------------------- the 124M shape

# initializer_range 0.04 gives continuations that vary (at 0.02 they cycle over a few tokens). A random model over
# 50257 tokens often has its top two logits closer than the reduced-precision error (gaps down to 0.2% of
# max |logit|, against errors of ~0.6% for bf16 and ~3% for int8 decoding), and a greedy continuation then follows
# whichever side of the near-tie the rounding picks. GREEDY_PROMPTS are the first six random 3-token prompts
# (seed 124) whose fp32 continuation has more than 12 distinct tokens in 24, picked by that rule alone. On them:
# - along fp32's greedy path, the decoding logits stay within LOGIT_RTOL of fp32's and pick fp32's token at
#   >= TOP1_AGREEMENT of the steps (measured with the default float16 KV cache: bf16 1.0, int8 0.965);
# - free-running greedy output equals fp32's until the first step where fp32's top two logits are within twice the
#   tolerance (a near-tie the rounding may flip), and GREEDY_MATCHED[dtype] tokens in all (measured over 6 x 24:
#   bf16 144; int8 70, its paths splitting after 9, 8, 24, 24, 5 and 0 tokens; with a float32 KV cache int8
#   matches 28, splitting after 5, 8, 10, 3, 2 and 0: which side of a near-tie wins is luck, hence the bound of 24).
GREEDY_PROMPTS = [[44191, 39464, 41745], [29583, 16830, 22253], [43147, 17532, 28160], [16631, 44783, 8009],
                  [3020, 33042, 47510], [20393, 23231, 13869]]
GREEDY_TOKENS = 24
GREEDY_MATCHED = {"bf16": 144, "int8": 24}
TOP1_AGREEMENT = 0.9


@pytest.fixture(scope="module")
def gpt2_124m(tmp_path_factory):
    hf = random_gpt2(seed=124, vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12,
                     initializer_range=0.04)
    path = save(hf, tmp_path_factory.mktemp("gpt2-124m-quant"))
    del hf
    fp32 = gptcore.GPT.from_pretrained(path)
    greedy = [fp32.generate(p, max_new_tokens=GREEDY_TOKENS) for p in GREEDY_PROMPTS]
    # fp32's logits at each step of its greedy path: row i predicts greedy[k][i].
    path_logits = [fp32.logits(p + g)[len(p) - 1:-1] for p, g in zip(GREEDY_PROMPTS, greedy)]
    ids = np.random.default_rng(124).integers(0, 50257, 64)
    return path, greedy, path_logits, ids, fp32.logits(ids)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpt2_124m(gpt2_124m, dtype):
    path, greedy, path_logits, ids, expected = gpt2_124m
    model = gptcore.GPT.from_pretrained(path, dtype=dtype)
    assert model.num_parameters() == 124_439_808
    logits = model.logits(ids)  # a 64-token full forward: widened panels and sgemm
    assert_logits_close(logits, expected, f"{dtype} 124M", rtol=LOGIT_RTOL[dtype])
    assert np.mean(logits.argmax(1) == expected.argmax(1)) >= TOP1_AGREEMENT
    agree, matched = [], 0
    for prompt, want, fp32_steps in zip(GREEDY_PROMPTS, greedy, path_logits):
        assert len(set(want)) > GREEDY_TOKENS // 2, "the prompts are those with varied continuations"
        cache = model.new_cache()  # decoding along fp32's path: the prompt, then one token a step
        steps = [model.forward(cache, prompt, [(0, len(prompt))])]
        steps += [model.forward(cache, [t], [(0, 1)]) for t in want[:-1]]
        steps = np.concatenate(steps)
        assert_logits_close(steps, fp32_steps, f"{dtype} decoding along {prompt}", rtol=LOGIT_RTOL[dtype])
        agree += list(steps.argmax(1) == np.array(want))
        got = model.generate(prompt, max_new_tokens=GREEDY_TOKENS)
        split = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), GREEDY_TOKENS)
        matched += split
        if split < GREEDY_TOKENS:
            top2 = np.sort(fp32_steps[split])[-2:]
            gap = (top2[1] - top2[0]) / np.abs(fp32_steps).max()
            assert gap <= 2 * LOGIT_RTOL[dtype], \
                f"{dtype}: prompt {prompt} left fp32's path at step {split}, where fp32's choice is clear ({gap:.3f})"
    assert np.mean(agree) >= TOP1_AGREEMENT, f"{dtype}: top-1 agreement along fp32's paths {np.mean(agree):.3f}"
    assert matched >= GREEDY_MATCHED[dtype], f"{dtype}: {matched} greedy tokens equal fp32's"


def test_quantize_activations_per_group():
    x = randn(3, 150)
    x[1] = 0.0
    x[2, 70] = np.inf  # the second group of row 2
    q, scales = K.quantize_activations(x)
    assert q.dtype == np.int8 and q.shape == (3, 150) and scales.shape == (3, 3)
    for m in range(3):
        for g in range(3):
            xs = x[m, 64 * g:64 * (g + 1)].astype(np.float64)
            if not np.all(np.isfinite(xs)):
                assert np.isnan(scales[m, g]) and not q[m, 64 * g:64 * (g + 1)].any()
                continue
            scale = np.float32(np.abs(xs).max() / 127)
            assert scales[m, g] == pytest.approx(scale, rel=1e-7)
            want = np.rint(xs / scales[m, g]) if scale > 0 else np.zeros_like(xs)
            np.testing.assert_array_equal(q[m, 64 * g:64 * (g + 1)], want)
    # A non-finite input makes its outputs NaN in the int8 decoding path, as it would in float32.
    w = randn(5, 150)
    out = K.matmul_quantized_forward(x, K.quantize(w, "out_in", "int8"), n_threads=1)
    assert np.all(np.isnan(out[2])) and np.all(np.isfinite(out[:2]))
