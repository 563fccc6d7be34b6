"""Random-weight GPT-2 checkpoints made with transformers, the reference implementation, for the tests."""

from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np
import torch
import transformers

# Parity tolerance: max |diff| relative to the largest |value| of the reference.
RTOL = 1e-4


def random_gpt2(seed: int = 0, weight_scale: float = 1.0, **config: Any) -> transformers.GPT2LMHeadModel:
    """A GPT2LMHeadModel in eval mode with eager attention and seeded random weights.

    weight_scale multiplies every weight after init: > 1 spreads the logits so greedy decoding has no near-ties.
    """
    defaults: Dict[str, Any] = dict(vocab_size=1000, n_positions=64, n_embd=96, n_layer=2, n_head=3,
                                    bos_token_id=0, eos_token_id=0)
    defaults.update(config)
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(**defaults)
    cfg._attn_implementation = "eager"  # the reference: plain softmax(q k^T / sqrt(d)) v
    model = transformers.GPT2LMHeadModel(cfg).eval()
    if weight_scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(weight_scale)
    return model


def save(model: transformers.PreTrainedModel, path: os.PathLike, **kwargs: Any) -> str:
    model.save_pretrained(path, **kwargs)
    return os.fspath(path)


def reference_logits(model: transformers.GPT2LMHeadModel, ids) -> "torch.Tensor":
    with torch.no_grad():
        return model(torch.as_tensor(ids, dtype=torch.long)[None]).logits[0].float().numpy()


def assert_logits_close(actual, expected, what: str = "", rtol: float = RTOL) -> None:
    """max |actual - expected| <= rtol x max |expected|; the failure names where the worst difference is."""
    scale = np.abs(expected).max()
    diff = np.abs(actual - expected)
    worst = np.unravel_index(diff.argmax(), diff.shape)
    assert diff.max() <= rtol * scale, (f"{what}: max |diff| {diff.max():.3g} at index {worst} "
                                        f"exceeds {rtol} x max |reference| {scale:.3g}")
