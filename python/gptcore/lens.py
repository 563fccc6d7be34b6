"""The logit lens: what each layer of the residual stream would predict if the model stopped there.

Each hidden state of :meth:`GPT.inspect` goes through the model's own final layer norm and LM head, giving a
distribution over the next token per layer and position. The last hidden state already is the final layer
norm's output (transformers' ``output_hidden_states`` convention, which ``inspect`` follows), so it only goes
through the LM head and its lens equals the model's logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .generation import _tokenizer


@dataclass(frozen=True)
class LogitLens:
    """What :func:`logit_lens` returns. Row ``l`` reads hidden state ``l``: 0 is the embeddings, ``n_layer``
    the model's output."""

    token_ids: np.ndarray          # [T] the input sequence
    top_ids: np.ndarray            # [n_layer + 1, T, k] each layer's most likely next tokens, most likely first
    top_probs: np.ndarray          # [n_layer + 1, T, k] their probabilities
    final_token_probs: np.ndarray  # [n_layer + 1, T] each layer's probability of the model's own prediction,
                                   # top_ids[-1, :, 0]: how early the model settles on its answer


def lens_logits(model: Any, hidden: np.ndarray, layer: int) -> np.ndarray:
    """float32 logits ``[T, vocab_size]`` read from ``hidden`` ``[T, n_embd]``, the hidden state ``layer`` of
    ``model.inspect`` (0 .. n_layer): the final layer norm, except for layer n_layer, then the LM head."""
    c = model.config
    if not 0 <= layer <= c.n_layer:
        raise ValueError(f"layer must be in [0, n_layer={c.n_layer}], got {layer}")
    hidden = np.asarray(hidden, dtype=np.float32)
    if hidden.ndim != 2 or hidden.shape[1] != c.n_embd:
        raise ValueError(f"hidden must have shape [T, n_embd={c.n_embd}], got {hidden.shape}")
    # inspect's last hidden state has been through the final layer norm already (as in transformers).
    return model._core.lm_head(hidden, layer < c.n_layer)


def logit_lens(model: Any, ids: Any, *, top_k: int = 5) -> LogitLens:
    """The logit lens of one sequence (a str, encoded with ``model.tokenizer``, or token ids): for every hidden
    state and position, the ``top_k`` most likely next tokens with their probabilities, and the probability
    of the token the full model predicts there."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or not 1 <= top_k <= model.vocab_size:
        raise ValueError(f"top_k must be an integer in [1, vocab_size={model.vocab_size}], got {top_k!r}")
    ids = sequence_ids(model, ids)
    hidden_states = model.inspect(ids, hidden_states=True, attentions=False).hidden_states  # [n_layer + 1, T, n_embd]
    n_states, T = hidden_states.shape[:2]
    top_ids = np.empty((n_states, T, top_k), dtype=np.int64)
    top_probs = np.empty((n_states, T, top_k), dtype=np.float32)
    final_token_probs = np.empty((n_states, T), dtype=np.float32)
    # The last layer first, so the model's own prediction is known when the earlier layers are read; one
    # [T, vocab] block at a time rather than [n_layer + 1, T, vocab] at once.
    for layer in reversed(range(n_states)):
        probs = _softmax(lens_logits(model, hidden_states[layer], layer))
        best = np.argpartition(-probs, top_k - 1, axis=1)[:, :top_k]
        order = np.argsort(-np.take_along_axis(probs, best, axis=1), axis=1, kind="stable")
        top_ids[layer] = np.take_along_axis(best, order, axis=1)
        top_probs[layer] = np.take_along_axis(probs, top_ids[layer], axis=1)
        final_token_probs[layer] = probs[np.arange(T), top_ids[-1, :, 0]]
    return LogitLens(ids, top_ids, top_probs, final_token_probs)


def sequence_ids(model: Any, text_or_ids: Any) -> np.ndarray:
    """One sequence as checked int32 token ids [T]: a str goes through ``model.tokenizer``."""
    if isinstance(text_or_ids, str):
        text_or_ids = _tokenizer(model, "text inputs").encode(text_or_ids)
    return model._sequence_ids(text_or_ids)


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of [T, V] in float64 (small probabilities of a 50k vocabulary stay accurate)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
