"""Hugging Face ``config.json`` -> the C++ core's :class:`gptcore._core.GPTConfig`.

One function per architecture (``model_type``). Adding a generation (GPT-1's ``openai-gpt``, GPT-Neo) means
one mapping here plus its block in ``cpp/model/``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict

from . import _core

CONFIG_FILE = "config.json"


class ConfigError(ValueError):
    """A config.json that gptcore cannot run: names the file and the key at fault."""


def _require_int(hf: Dict[str, Any], key: str, path: str) -> int:
    value = hf.get(key)
    if value is None:
        raise ConfigError(f"{path}: missing required key '{key}'")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: '{key}' must be a positive integer, got {value!r}")
    return value


def gpt2_config(hf: Dict[str, Any], path: str) -> _core.GPTConfig:
    """GPT-2 (and GPT-2-shaped checkpoints: DistilGPT2, Cerebras-GPT): pre-norm blocks, gelu_new, tied head."""
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ConfigError(f"{path}: activation_function '{activation}' is not supported; "
                          "gptcore implements GPT-2's tanh GELU ('gelu_new')")
    if hf.get("add_cross_attention"):
        raise ConfigError(f"{path}: add_cross_attention=true (an encoder-decoder GPT-2) is not supported")
    c = _core.GPTConfig()
    c.vocab_size = _require_int(hf, "vocab_size", path)
    c.n_positions = _require_int(hf, "n_positions", path)
    c.n_embd = _require_int(hf, "n_embd", path)
    c.n_layer = _require_int(hf, "n_layer", path)
    c.n_head = _require_int(hf, "n_head", path)
    c.n_inner = 4 * c.n_embd if hf.get("n_inner") is None else _require_int(hf, "n_inner", path)
    eps = hf.get("layer_norm_epsilon", 1e-5)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ConfigError(f"{path}: 'layer_norm_epsilon' must be a positive number, got {eps!r}")
    c.layer_norm_epsilon = float(eps)
    c.scale_attn_weights = bool(hf.get("scale_attn_weights", True))
    c.scale_attn_by_inverse_layer_idx = bool(hf.get("scale_attn_by_inverse_layer_idx", False))
    if c.n_embd % c.n_head:
        raise ConfigError(f"{path}: n_embd={c.n_embd} is not divisible by n_head={c.n_head}")
    return c


# model_type -> mapping. Weight names follow the same architecture (see weights.py).
ARCHITECTURES: Dict[str, Callable[[Dict[str, Any], str], _core.GPTConfig]] = {
    "gpt2": gpt2_config,
}


def load_config(model_dir: str) -> tuple[_core.GPTConfig, Dict[str, Any]]:
    """Read ``model_dir/config.json``; return the core config and the raw dict."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{model_dir}: no {CONFIG_FILE}; a Hugging Face model directory holds "
                                f"{CONFIG_FILE} and model.safetensors")
    try:
        with open(path, encoding="utf-8") as f:
            hf = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
    if not isinstance(hf, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    model_type = hf.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ConfigError(f"{path}: model_type {model_type!r} is not supported; "
                          f"supported: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES[model_type](hf, path), hf
