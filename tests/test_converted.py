"""Weights converted ahead of time (python/gptcore/converted.py): a bf16 / int8 model loaded from its converted
file computes exactly what a model converted in memory computes, and a stale, corrupt or unwritable cache
never gives a wrong model."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import gptcore
from gptcore import _core, converted
from gptcore.weights import read_safetensors, release_pages

from conftest import make_checkpoint

IDS = [3, 17, 42, 5, 88, 0, 61, 29, 12]
# K = 48 (one partial int8 group) in the attention matrices and wte, K = 192 (three groups) in mlp.c_proj.
SHAPE = dict(vocab_size=96, n_positions=64, n_embd=48, n_layer=2, n_head=4)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", **SHAPE)


def in_memory_logits(path, dtype):
    return gptcore.GPT.from_pretrained(path, dtype=dtype, converted_cache=False, n_threads=1).logits(IDS)


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_first_and_later_loads_equal_in_memory_conversion(checkpoint, tmp_path, dtype):
    expected = in_memory_logits(checkpoint, dtype)
    first = gptcore.GPT.from_pretrained(checkpoint, dtype=dtype, converted_cache=tmp_path, n_threads=1)
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(f".{dtype}.safetensors"), files
    mtime = os.stat(tmp_path / files[0]).st_mtime_ns
    later = gptcore.GPT.from_pretrained(checkpoint, dtype=dtype, converted_cache=tmp_path, n_threads=1)
    assert os.stat(tmp_path / files[0]).st_mtime_ns == mtime, "a later load must not convert again"
    for model in (first, later):
        assert model.dtype == dtype
        np.testing.assert_array_equal(model.logits(IDS), expected)
        assert model.num_parameters() == gptcore.GPT.from_pretrained(checkpoint, n_threads=1).num_parameters()


def test_later_load_reads_only_the_converted_file(checkpoint, tmp_path, monkeypatch):
    gptcore.GPT.from_pretrained(checkpoint, dtype="int8", converted_cache=tmp_path, n_threads=1)

    def fail(*args, **kwargs):
        raise AssertionError("the checkpoint was read or converted again")

    monkeypatch.setattr(converted, "write", fail)
    monkeypatch.setattr(gptcore.model, "read_checkpoint", fail)
    model = gptcore.GPT.from_pretrained(checkpoint, dtype="int8", converted_cache=tmp_path, n_threads=1)
    np.testing.assert_array_equal(model.logits(IDS), in_memory_logits_unpatched(checkpoint))


def in_memory_logits_unpatched(path):
    from gptcore.weights import gpt2_tensors, read_checkpoint
    from gptcore.config import load_config

    config, _ = load_config(str(path))
    core = _core.GPT.quantized(config, gpt2_tensors(read_checkpoint(str(path)), config, str(path)), 1, "int8")
    cache = _core.KVCache(config, 1, len(IDS), "float16")  # an int8 model's default
    return core.forward(cache, np.array(IDS, np.int32), [(0, len(IDS))], True)


@pytest.mark.parametrize("dtype", ["bf16", "int8"])
def test_file_is_plain_safetensors_with_matrices_stored_n_by_k(checkpoint, tmp_path, dtype):
    import torch
    from safetensors import safe_open

    gptcore.GPT.from_pretrained(checkpoint, dtype=dtype, converted_cache=tmp_path, n_threads=1)
    (name,) = os.listdir(tmp_path)
    source = read_safetensors(str(checkpoint / "model.safetensors"))
    with safe_open(str(tmp_path / name), "pt") as f:
        meta = f.metadata()
        assert meta["format"] == converted.FORMAT and meta["dtype"] == dtype
        c = SHAPE["n_embd"]
        q = f.get_tensor("h.1.mlp.c_proj.weight")  # Conv1D (4C, C) in the checkpoint: stored (C, 4C)
        w = torch.from_numpy(source["transformer.h.1.mlp.c_proj.weight"].T.copy())
        assert q.shape == (c, 4 * c)
        assert f.get_tensor("wte.weight").shape == (SHAPE["vocab_size"], c)
        np.testing.assert_array_equal(f.get_tensor("h.0.ln_1.bias").numpy(), source["transformer.h.0.ln_1.bias"])
        if dtype == "int8":
            scales = f.get_tensor("h.1.mlp.c_proj.weight.scales")
            assert q.dtype == torch.int8 and scales.shape == (c, 3)
            deq = q.float() * scales.repeat_interleave(64, dim=1)[:, :4 * c]
            step = w.abs().reshape(c, 3, 64).amax(dim=2).repeat_interleave(64, dim=1) / 127
            assert bool(((deq - w).abs() <= step / 2 * 1.0001).all())  # within half a step of its group
        else:
            assert q.dtype == torch.bfloat16 and "h.1.mlp.c_proj.weight.scales" not in f.keys()
            assert torch.equal(q, w.to(torch.bfloat16))  # round to nearest even, as torch rounds


def test_changed_checkpoint_gets_a_new_file(tmp_path):
    path = make_checkpoint(tmp_path / "ckpt", seed=1, **SHAPE)
    cache = tmp_path / "cache"
    gptcore.GPT.from_pretrained(path, dtype="int8", converted_cache=cache, n_threads=1)
    make_checkpoint(path, seed=2, **SHAPE)  # new weights in the same place
    model = gptcore.GPT.from_pretrained(path, dtype="int8", converted_cache=cache, n_threads=1)
    assert len(os.listdir(cache)) == 2
    np.testing.assert_array_equal(model.logits(IDS), in_memory_logits(path, "int8"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other_dtype"])
def test_unusable_file_is_converted_again_with_a_warning(checkpoint, tmp_path, damage):
    gptcore.GPT.from_pretrained(checkpoint, dtype="int8", converted_cache=tmp_path, n_threads=1)
    (name,) = os.listdir(tmp_path)
    path = tmp_path / name
    if damage == "truncate":
        os.truncate(path, os.path.getsize(path) // 2)
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 100)
    else:  # a bf16 file under the int8 name
        gptcore.GPT.from_pretrained(checkpoint, dtype="bf16", converted_cache=tmp_path / "b", n_threads=1)
        (bf16,) = os.listdir(tmp_path / "b")
        os.replace(tmp_path / "b" / bf16, path)
    with pytest.warns(UserWarning, match=f"converting {checkpoint} to int8 again: the converted file cannot be used"):
        model = gptcore.GPT.from_pretrained(checkpoint, dtype="int8", converted_cache=tmp_path, n_threads=1)
    np.testing.assert_array_equal(model.logits(IDS), in_memory_logits(checkpoint, "int8"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired: the next load is silent
        gptcore.GPT.from_pretrained(checkpoint, dtype="int8", converted_cache=tmp_path, n_threads=1)


def test_unwritable_directory_converts_in_memory_with_a_warning(checkpoint, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory would go")
    with pytest.warns(UserWarning, match="cannot keep the bf16 weights of .* converting them in memory"):
        model = gptcore.GPT.from_pretrained(checkpoint, dtype="bf16", converted_cache=blocker, n_threads=1)
    np.testing.assert_array_equal(model.logits(IDS), in_memory_logits(checkpoint, "bf16"))
    assert not [f for f in os.listdir(tmp_path) if f != blocker.name]


def test_default_directory_follows_gptcore_cache(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("GPTCORE_CACHE", str(tmp_path))
    gptcore.GPT.from_pretrained(checkpoint, dtype="int8", n_threads=1)
    assert [f.endswith(".int8.safetensors") for f in os.listdir(tmp_path / "converted")] == [True]
    monkeypatch.delenv("GPTCORE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert converted.default_directory() == str(tmp_path / "xdg" / "gptcore" / "converted")


def test_converted_cache_argument_is_checked(checkpoint):
    with pytest.raises(TypeError, match="converted_cache must be True, False or a directory, got 3"):
        gptcore.GPT.from_pretrained(checkpoint, dtype="int8", converted_cache=3)


def test_missing_weights_are_reported_not_cached(tmp_path):
    path = make_checkpoint(tmp_path / "ckpt", **SHAPE)
    os.unlink(path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no weights; expected model.safetensors"):
        gptcore.GPT.from_pretrained(path, dtype="int8", converted_cache=tmp_path / "cache")


def _matrices(checkpoint, dtype):
    from gptcore.config import load_config
    from gptcore.weights import gpt2_tensors, read_checkpoint

    config, _ = load_config(str(checkpoint))
    tensors = gpt2_tensors(read_checkpoint(str(checkpoint)), config, str(checkpoint))
    vectors = {n: a for n, a in tensors.items() if converted.layout_of(n) is None}
    matrices = {}
    for n, a in tensors.items():
        if converted.layout_of(n) is not None:
            q = _core.kernels.quantize(a, converted.layout_of(n), dtype)
            matrices[n] = (q.int8, q.scales) if dtype == "int8" else (q.bf16, None)
    return config, vectors, matrices


def test_core_constructor_names_what_does_not_fit(checkpoint):
    config, vectors, matrices = _matrices(checkpoint, "int8")
    good = _core.GPT.converted(config, vectors, matrices, 1)
    assert good.dtype == "int8"

    def error(vectors=vectors, **changes):
        return {**matrices, **changes}, vectors

    q, s = matrices["h.0.attn.c_proj.weight"]
    cases = [
        (error(**{"h.0.attn.c_proj.weight": (q[:, :-1].copy(), s)}), ValueError, "scales must have shape|is \\("),
        (error(**{"h.0.attn.c_proj.weight": (q, s[:-1].copy())}), ValueError,
         "matrix 'h.0.attn.c_proj.weight': scales must have shape"),
        (error(**{"h.0.attn.c_proj.weight": (q.astype(np.int16), s)}), TypeError,
         "matrix 'h.0.attn.c_proj.weight': values must be a C-contiguous uint16"),
        (error(**{"h.0.mlp.c_fc.weight": (np.zeros((4 * 48, 48), np.uint16), None)}), ValueError,
         "matrix 'h.0.mlp.c_fc.weight' is bf16, the others int8"),
        (error(**{"h.0.mlp.c_fc.weight": (q, s)}), ValueError,
         r"matrix 'h.0.mlp.c_fc.weight' is \(48, 48\) as \(N, K\), expected \(192, 48\)"),
        (error(**{"h.9.mlp.c_fc.weight": (q, s)}), ValueError, "unexpected matrix 'h.9.mlp.c_fc.weight'"),
        (error(**{"h.0.attn.c_proj.weight": q}), TypeError, "must be a \\(values, scales or None\\) tuple"),
        (error(vectors={k: v for k, v in vectors.items() if k != "ln_f.bias"}), ValueError,
         "missing tensor 'ln_f.bias'"),
    ]
    for (mats, vecs), exc, match in cases:
        with pytest.raises(exc, match=match):
            _core.GPT.converted(config, vecs, mats, 1)
    with pytest.raises(ValueError, match="missing matrix 'h.1.mlp.c_proj.weight'"):
        _core.GPT.converted(config, vectors, {k: v for k, v in matrices.items() if k != "h.1.mlp.c_proj.weight"}, 1)


def _rss_file_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))


def test_release_pages_drops_resident_pages_and_keeps_the_data(tmp_path):
    from safetensors.numpy import save_file

    arr = np.random.default_rng(0).standard_normal((4096, 1024)).astype(np.float32)  # 16 MiB
    save_file({"w": arr, "small": np.ones(3, np.float32)}, str(tmp_path / "t.safetensors"))
    mapped = read_safetensors(str(tmp_path / "t.safetensors"))["w"]
    assert float(mapped.sum()) == pytest.approx(float(arr.sum()), rel=1e-5)  # every page resident now
    before = _rss_file_kib()
    release_pages(mapped)
    after = _rss_file_kib()
    assert before - after > 0.9 * arr.nbytes / 1024, (before, after)
    np.testing.assert_array_equal(mapped, arr)  # faulted back in from the file
    release_pages(arr)  # not a memory map: nothing happens
    np.testing.assert_array_equal(arr, mapped)
