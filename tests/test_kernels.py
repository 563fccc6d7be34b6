"""Each fast C++ kernel against its plain reference (and the reference against NumPy), on edge shapes."""

import numpy as np
import pytest

from gptcore import _core

K = _core.kernels
rng = np.random.default_rng(1234)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("N,C", [(1, 1), (1, 7), (3, 64), (17, 768), (2, 1001)])
def test_layernorm(N, C):
    x = randn(N, C) + 5.0  # a large mean tests the centred variance
    w, b = randn(C), randn(C)
    eps = 1e-5
    mean, var = x.astype(np.float64).mean(1, keepdims=True), x.astype(np.float64).var(1, keepdims=True)
    numpy_ref = (x - mean) / np.sqrt(var + eps) * w + b
    naive = K.layernorm_forward(x, w, b, eps, naive=True)
    fast = K.layernorm_forward(x, w, b, eps)
    np.testing.assert_allclose(naive, numpy_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 1000])
def test_gelu(n):
    x = randn(n, scale=4.0)
    x[: min(n, 4)] = [0.0, -30.0, 30.0, 1e-3][: min(n, 4)]
    naive = K.gelu_forward(x, naive=True)
    x64 = x.astype(np.float64)
    numpy_ref = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64**3)))
    np.testing.assert_allclose(naive, numpy_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(K.gelu_forward(x), naive, rtol=0, atol=2e-6 * np.maximum(1, np.abs(x)).max())


@pytest.mark.parametrize("N,C", [(1, 1), (1, 5), (4, 17), (3, 1024)])
def test_softmax(N, C):
    x = randn(N, C, scale=10.0)
    if C > 2:
        x[0, 1] = -np.inf  # masked entries become exactly 0
    e = np.exp(x.astype(np.float64) - x.max(1, keepdims=True))
    numpy_ref = e / e.sum(1, keepdims=True)
    naive = K.softmax_forward(x, naive=True)
    fast = K.softmax_forward(x)
    np.testing.assert_allclose(naive, numpy_ref, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fast, naive, rtol=1e-5, atol=1e-8)
    if C > 2:
        assert fast[0, 1] == 0.0


@pytest.mark.parametrize("T,C", [(1, 1), (5, 13), (9, 768)])
def test_embedding(T, C):
    V, P = 11, 10
    wte, wpe = randn(V, C), randn(P, C)
    tokens = rng.integers(0, V, T).astype(np.int32)
    positions = rng.integers(0, P, T).astype(np.int32)
    numpy_ref = wte[tokens] + wpe[positions]
    np.testing.assert_array_equal(K.embedding_forward(tokens, positions, wte, wpe, naive=True), numpy_ref)
    np.testing.assert_array_equal(K.embedding_forward(tokens, positions, wte, wpe), numpy_ref)


def matmul_tolerance(x, w, layout):
    """Rounding bound: a few float32 ulps of sum |x||w| per output."""
    wt = np.abs(w) if layout == "in_out" else np.abs(w).T
    return 1e-5 * (np.abs(x).astype(np.float64) @ wt) + 1e-6


# M covers the streaming (decode) kernels (M <= 8) and the sgemm path (M > 8); K and N cover remainders.
# N = 1100 spans several 256-column tiles of the streaming kernel per thread, the last one partial.
@pytest.mark.parametrize("M", [1, 2, 5, 8, 9, 33])
@pytest.mark.parametrize("K_,N", [(1, 1), (3, 17), (17, 5), (64, 100), (130, 48), (40, 1100)])
@pytest.mark.parametrize("layout", ["in_out", "out_in"])
def test_matmul(M, K_, N, layout):
    x = randn(M, K_)
    w = randn(K_, N) if layout == "in_out" else randn(N, K_)
    b = randn(N)
    numpy_ref = x.astype(np.float64) @ (w if layout == "in_out" else w.T) + b
    tol = matmul_tolerance(x, w, layout)
    naive = K.matmul_forward(x, w, b, layout=layout, naive=True)
    assert np.all(np.abs(naive - numpy_ref) <= tol)
    results = []
    for n_threads in (1, 2, 3):
        fast = K.matmul_forward(x, w, b, layout=layout, n_threads=n_threads)
        assert np.all(np.abs(fast - naive) <= tol), f"n_threads={n_threads}: max diff {np.abs(fast - naive).max()}"
        results.append(fast)
    if M <= 8:  # the decoding kernels sum in an order that does not depend on the thread count
        for fast in results[1:]:
            np.testing.assert_array_equal(fast, results[0])


@pytest.mark.parametrize("M", [1, 4, 12])
def test_matmul_accumulate_without_bias(M):
    K_, N = 31, 40
    x, w, residual = randn(M, K_), randn(K_, N), randn(M, N)
    expected = residual + x.astype(np.float64) @ w
    tol = matmul_tolerance(x, w, "in_out") + 1e-6 * np.abs(residual)
    for naive in (True, False):
        out = K.matmul_forward(x, w, None, out=residual, n_threads=2, naive=naive)
        assert np.all(np.abs(out - expected) <= tol)


def numpy_attention(q, k, v, pos0, scale, window):
    n_q = q.shape[0]
    out = np.zeros_like(q, dtype=np.float64)
    for i in range(n_q):
        p = pos0 + i
        lo = max(0, p - window + 1) if window > 0 else 0
        s = (k[lo:p + 1].astype(np.float64) @ q[i]) * scale
        e = np.exp(s - s.max())
        out[i] = (e / e.sum()) @ v[lo:p + 1]
    return out


# n_q >= 8 takes the sgemm path, below it the per-query loop; pos0 > 0 is decoding after a prefix.
@pytest.mark.parametrize("n_q,pos0", [(1, 0), (1, 7), (3, 2), (8, 0), (20, 5)])
@pytest.mark.parametrize("hd", [1, 5, 64])
@pytest.mark.parametrize("window", [0, 1, 3])
def test_attention(n_q, pos0, hd, window):
    n_kv = pos0 + n_q
    q, k, v = randn(n_q, hd), randn(n_kv, hd), randn(n_kv, hd)
    scale = 1 / np.sqrt(hd)
    numpy_ref = numpy_attention(q, k, v, pos0, scale, window)
    naive = K.attention_forward(q, k, v, pos0, scale, window, naive=True)
    fast = K.attention_forward(q, k, v, pos0, scale, window)
    np.testing.assert_allclose(naive, numpy_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast, naive, rtol=1e-4, atol=1e-5)
    if window == 1:  # each query sees only itself
        np.testing.assert_allclose(fast, v[pos0:], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_q,pos0", [(1, 4), (3, 0), (9, 2)])
def test_attention_probabilities(n_q, pos0):
    """The optional probabilities output: rows sum to 1, zeros where masked, and they reproduce the output."""
    hd, n_kv = 8, pos0 + n_q
    q, k, v = randn(n_q, hd), randn(n_kv, hd), randn(n_kv, hd)
    out, probs = K.attention_probs(q, k, v, pos0, 1 / np.sqrt(hd), 0)
    assert probs.shape == (n_q, n_kv)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    for i in range(n_q):
        assert np.all(probs[i, pos0 + i + 1:] == 0)
    np.testing.assert_allclose(probs @ v, out, rtol=1e-4, atol=1e-5)


def test_float16_widening_is_exact_for_every_value():
    """Every float16 bit pattern widens to numpy's float32 value and narrows back to itself (NaNs stay NaN), on
    the F16C path and the portable one."""
    bits = np.arange(65536, dtype=np.uint16)
    want = bits.view(np.float16).astype(np.float32)
    nan = np.isnan(want)
    for portable in (False, True):
        got = K.floats_from_halves(bits, portable=portable)
        assert np.array_equal(np.isnan(got), nan)
        np.testing.assert_array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))
        back = K.halves_from_floats(got, portable=portable)
        np.testing.assert_array_equal(back[~nan], bits[~nan])
        assert np.all(np.isnan(back.view(np.float16)[nan]))


def test_float16_narrowing_rounds_like_numpy():
    """float32 -> float16 rounds to nearest even everywhere: exact ties between neighbours and one float32 ulp
    either side, the subnormal range, and overflow to inf from 65520 up; lengths leave a scalar tail."""
    halves = np.arange(0, 0x7c00, dtype=np.uint16).view(np.float16).astype(np.float64)
    ties = ((halves[:-1] + halves[1:]) / 2).astype(np.float32)  # exact in float32
    near = np.concatenate([np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, np.float32(0))])
    scales = [1e-8, 1e-6, 1e-4, 1.0, 1e2, 3e4, 7e4]
    wide = np.concatenate([randn(20001, scale=s) for s in scales])
    edges = np.float32([0.0, -0.0, np.inf, -np.inf, 65504, 65519.996, 65520, -65520, 6.1035156e-05, 5.9604645e-08,
                        2.9802322e-08, 2.9802326e-08, 1e-30])
    x = np.concatenate([ties, -ties, near, wide, edges])
    with np.errstate(over="ignore"):  # numpy warns when it rounds to inf, as it should here
        want = x.astype(np.float16).view(np.uint16)
    for portable in (False, True):
        got = K.halves_from_floats(x, portable=portable)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"portable={portable}: {x[bad[:5]]} -> {got[bad[:5]]}, numpy {want[bad[:5]]}"


def rounded_to_half(a):
    return a.astype(np.float16).astype(np.float32)


# hd 64 takes the F16C decoding kernel, hd 12 (not a multiple of 8) the plain loops; n_q >= 8 widens the cache
# for sgemm.
@pytest.mark.parametrize("n_q,pos0", [(1, 0), (1, 70), (3, 2), (8, 0), (20, 37)])
@pytest.mark.parametrize("hd", [12, 64])
@pytest.mark.parametrize("window", [0, 3])
def test_attention_over_float16_cache(n_q, pos0, hd, window):
    """Attention over a float16 cache equals float64 attention over the keys and values rounded to float16."""
    n_kv = pos0 + n_q
    q, k, v = randn(n_q, hd), randn(n_kv, hd, scale=3.0), randn(n_kv, hd, scale=3.0)
    scale = 1 / np.sqrt(hd)
    want = numpy_attention(q, rounded_to_half(k), rounded_to_half(v), pos0, scale, window)
    got = K.attention_forward(q, k, v, pos0, scale, window, kv_dtype="float16")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    unrounded = numpy_attention(q, k, v, pos0, scale, window)
    assert np.abs(unrounded - want).max() > 1e-4, "the test must tell a float16 cache from a float32 one"
    out, probs = K.attention_probs(q, k, v, pos0, scale, window, kv_dtype="float16")
    np.testing.assert_array_equal(out, got)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    for i in range(n_q):
        lo = max(0, pos0 + i - window + 1) if window else 0
        assert np.all(probs[i, :lo] == 0) and np.all(probs[i, pos0 + i + 1:] == 0)
    np.testing.assert_allclose(probs @ rounded_to_half(v), out, rtol=1e-4, atol=2e-5)


def test_attention_checks_cache_shapes():
    q = randn(2, 8)
    with pytest.raises(ValueError, match=r"k_cache, v_cache \(>= pos0 \+ n_q, hd\)"):
        K.attention_forward(q, randn(4, 8), randn(4, 8), pos0=3, scale=1.0)
    with pytest.raises(ValueError, match="KV cache dtype must be"):
        K.attention_forward(q, randn(2, 8), randn(2, 8), pos0=0, scale=1.0, kv_dtype="int8")
