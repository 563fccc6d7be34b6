"""Bad input gets a clear Python exception naming the culprit, never a crash."""

import json
import pickle
import threading
import time

import numpy as np
import pytest
import safetensors.torch
import torch

import gptcore
from gptcore import _core
from checkpoints import random_gpt2, save


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save(random_gpt2(seed=11, n_positions=32, vocab_size=100), tmp_path_factory.mktemp("ckpt"))


@pytest.fixture(scope="module")
def model(checkpoint):
    return gptcore.GPT.from_pretrained(checkpoint)


def state_dict_copy(checkpoint):
    return safetensors.torch.load_file(f"{checkpoint}/model.safetensors")


def write_checkpoint(path, state, config_from):
    safetensors.torch.save_file(state, path / "model.safetensors")
    (path / "config.json").write_text((open(f"{config_from}/config.json").read()))
    return path


def test_not_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        gptcore.GPT.from_pretrained(tmp_path / "nothing-here")


def test_directory_without_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        gptcore.GPT.from_pretrained(tmp_path)


def test_config_not_json(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2",\n oops}')
    with pytest.raises(gptcore.ConfigError, match=r"config.json.*line 2"):
        gptcore.GPT.from_pretrained(tmp_path)


def test_unknown_model_type(tmp_path, checkpoint):
    cfg = json.load(open(f"{checkpoint}/config.json"))
    cfg["model_type"] = "llama"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(gptcore.ConfigError, match="model_type 'llama' is not supported"):
        gptcore.GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize("key,value,message", [
    ("n_head", 0, "'n_head' must be a positive integer"),
    ("n_embd", None, "missing required key 'n_embd'"),
    ("n_head", 5, "n_embd=96 is not divisible by n_head=5"),
    ("activation_function", "relu", "activation_function 'relu'"),
    ("layer_norm_epsilon", -1, "'layer_norm_epsilon' must be a positive number"),
])
def test_bad_config_values(tmp_path, checkpoint, key, value, message):
    cfg = json.load(open(f"{checkpoint}/config.json"))
    cfg[key] = value
    if value is None:
        del cfg[key]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(gptcore.ConfigError, match=message):
        gptcore.GPT.from_pretrained(tmp_path)


def test_no_weights_file(tmp_path, checkpoint):
    (tmp_path / "config.json").write_text(open(f"{checkpoint}/config.json").read())
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        gptcore.GPT.from_pretrained(tmp_path)


def test_missing_tensor(tmp_path, checkpoint):
    state = state_dict_copy(checkpoint)
    del state["transformer.h.1.mlp.c_fc.bias"]
    with pytest.raises(gptcore.WeightsError, match=r"missing tensor 'h.1.mlp.c_fc.bias' \(expected shape \(384,\)\)"):
        gptcore.GPT.from_pretrained(write_checkpoint(tmp_path, state, checkpoint))


def test_wrong_shape(tmp_path, checkpoint):
    state = state_dict_copy(checkpoint)
    state["transformer.h.0.attn.c_attn.weight"] = torch.zeros(96, 96)
    with pytest.raises(gptcore.WeightsError, match=r"'h.0.attn.c_attn.weight' has shape \(96, 96\), expected \(96, 288\)"):
        gptcore.GPT.from_pretrained(write_checkpoint(tmp_path, state, checkpoint))


def test_wrong_dtype(tmp_path, checkpoint):
    state = state_dict_copy(checkpoint)
    state["transformer.ln_f.weight"] = torch.ones(96, dtype=torch.int64)
    with pytest.raises(gptcore.WeightsError, match=r"model.safetensors: tensor 'transformer.ln_f.weight' has dtype I64"):
        gptcore.GPT.from_pretrained(write_checkpoint(tmp_path, state, checkpoint))


@pytest.mark.parametrize("keep", [4, 100, -1000])
def test_truncated_file(tmp_path, checkpoint, keep):
    data = open(f"{checkpoint}/model.safetensors", "rb").read()
    (tmp_path / "model.safetensors").write_bytes(data[:keep])
    (tmp_path / "config.json").write_text(open(f"{checkpoint}/config.json").read())
    with pytest.raises(gptcore.WeightsError, match="model.safetensors: truncated"):
        gptcore.GPT.from_pretrained(tmp_path)


def test_pickle_with_code_is_refused(tmp_path, checkpoint):
    """pytorch_model.bin is read with torch.load(weights_only=True): a pickle that runs code is rejected."""
    class Exploit:
        def __reduce__(self):
            return (exec, ("open(%r, 'w').write('pwned')" % str(tmp_path / "pwned"),))
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"wte.weight": Exploit()}, f)
    (tmp_path / "config.json").write_text(open(f"{checkpoint}/config.json").read())
    with pytest.raises(gptcore.WeightsError, match=r"pytorch_model.bin: cannot be read safely"):
        gptcore.GPT.from_pretrained(tmp_path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("ids,error,message", [
    ([1, 2, 100], ValueError, r"ids\[2\] = 100 is out of range \[0, vocab_size=100\)"),
    ([-1], ValueError, r"ids\[0\] = -1 is out of range"),
    ([], ValueError, "ids is empty"),
    ([[1, 2]], ValueError, "1-D sequence"),
    ([1.5, 2.0], TypeError, "integer token ids"),
    (list(range(33)), ValueError, "33 tokens, longer than the model's context n_positions=32"),
])
def test_bad_ids(model, ids, error, message):
    with pytest.raises(error, match=message):
        model.logits(ids)


def test_core_checks_its_own_inputs(model):
    """The native forward validates ids, slots and lengths too (a direct caller cannot crash it)."""
    cache = model.new_cache(n_slots=2, capacity=8)
    with pytest.raises(IndexError, match="token id 100 at index 1 is out of range"):
        model._core.forward(cache, np.array([1, 100], np.int32), [(0, 2)], True)
    with pytest.raises(IndexError, match="slot 2 out of range"):
        model._core.forward(cache, np.array([1], np.int32), [(2, 1)], True)
    with pytest.raises(ValueError, match="slot 0 appears twice"):
        model._core.forward(cache, np.array([1, 2], np.int32), [(0, 1), (0, 1)], True)
    with pytest.raises(ValueError, match="segments cover 1 tokens but 2 were given"):
        model._core.forward(cache, np.array([1, 2], np.int32), [(0, 1)], True)
    with pytest.raises(IndexError, match="more than the KV cache capacity 8"):
        model._core.forward(cache, np.arange(9, dtype=np.int32), [(0, 9)], True)
    with pytest.raises(TypeError):
        model._core.forward(cache, np.array([1, 2], np.int64), [(0, 2)], True)
    assert cache.length(0) == 0 and cache.length(1) == 0  # nothing was appended by the failed calls
    with pytest.raises(ValueError, match="capacity must be in"):
        model.new_cache(capacity=33)


def test_cache_of_another_model_is_refused(model, tmp_path):
    """A cache holds one model's (n_layer, n_head, head_dim); another model's forward names what differs."""
    other = gptcore.GPT.from_pretrained(save(random_gpt2(seed=3, n_positions=32, vocab_size=100, n_layer=3),
                                             tmp_path))
    cache = other.new_cache(capacity=8)
    with pytest.raises(ValueError, match=r"KV cache was made for another model: n_layer 3 \(the model has 2\)"):
        model.forward(cache, [1, 2], [(0, 2)])
    assert cache.length(0) == 0


def test_bad_kv_dtype(model):
    with pytest.raises(ValueError, match="kv_dtype must be None or one of 'float32', 'fp32', 'float16', 'fp16', "
                                         "got 'int8'"):
        model.new_cache(dtype="int8")
    with pytest.raises(ValueError, match="kv_dtype must be"):
        gptcore.GPT.from_pretrained(model.source, kv_dtype="half")
    with pytest.raises(ValueError, match="KV cache dtype must be 'float32' or 'float16', got 'bf16'"):
        _core.KVCache(model.config, 1, 8, "bf16")


def test_tensor_dict_type_errors(model):
    with pytest.raises(TypeError, match=r"tensor 'wte.weight' must be a C-contiguous float32 NumPy array.*float64"):
        _core.GPT(model.config, {"wte.weight": np.zeros((100, 96))}, 1)
    with pytest.raises(ValueError, match="missing tensor 'wpe.weight'"):
        _core.GPT(model.config, {"wte.weight": np.zeros((100, 96), np.float32)}, 1)


@pytest.mark.parametrize("n_threads", [0, -2, 1.5, True])
def test_bad_thread_count(checkpoint, n_threads):
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        gptcore.GPT.from_pretrained(checkpoint, n_threads=n_threads)


def test_threads_default_to_physical_cores(checkpoint, monkeypatch):
    monkeypatch.delenv("GPTCORE_NUM_THREADS", raising=False)
    assert gptcore.GPT.from_pretrained(checkpoint).n_threads == _core.physical_cores()
    monkeypatch.setenv("GPTCORE_NUM_THREADS", "3")
    assert gptcore.GPT.from_pretrained(checkpoint).n_threads == 3
    monkeypatch.setenv("GPTCORE_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="GPTCORE_NUM_THREADS"):
        gptcore.GPT.from_pretrained(checkpoint)


def test_openblas_runs_single_threaded_under_the_pool(model):
    """gptcore's pool splits the work; OpenBLAS's own threads would oversubscribe the cores."""
    assert _core.blas_num_threads() == 1


def test_gil_is_released_during_forward(tmp_path):
    """Another Python thread keeps running while a long forward pass computes."""
    model = gptcore.GPT.from_pretrained(save(random_gpt2(seed=12, n_positions=1024, n_embd=256, n_head=4,
                                                         n_layer=4), tmp_path), n_threads=1)
    ids = np.arange(1024) % model.vocab_size
    progress, running = [0], threading.Event()

    def forward():
        running.set()
        for _ in range(3):
            model.logits(ids)
        running.clear()

    worker = threading.Thread(target=forward)
    worker.start()
    running.wait()
    while running.is_set():
        progress[0] += 1
    worker.join()
    # With the GIL held for the whole call this loop could not run at all during it.
    assert progress[0] > 1000
