"""Pictures of what a model does with one text: attention, next-token probabilities, surprisal, logit lens.

Each function takes a model and a text (encoded with ``model.tokenizer``) or token ids, and returns a
matplotlib ``Figure``; a notebook shows it when it is a cell's value, a script saves it with
``fig.savefig(path)``. matplotlib is an optional extra: ``pip install "gptcore[plot]"``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, FrozenSet, List, Optional, Sequence

import numpy as np

from .lens import logit_lens, sequence_ids
from .model import Ids

# Above this many tokens, tick labels overlap: axes get none (or every n-th) instead.
_MAX_LABELS = 40


def _pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError that names the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError('gptcore.plotting needs matplotlib: pip install "gptcore[plot]" '
                          '(or pip install matplotlib)') from None
    return plt


def _figure(width: float, height: float, layout: Any = "constrained") -> Any:
    """A new figure, closed in pyplot at once: a notebook then shows it once, as the cell's value (an open one
    would also be shown at the cell's end), and long sessions do not accumulate open figures. Creating it
    through pyplot matters: that starts the notebook backend, which is what displays figures as images."""
    plt = _pyplot()
    fig = plt.figure(figsize=(width, height), layout=layout)
    plt.close(fig)
    return fig


def token_strings(model: Any, ids: Ids) -> List[str]:
    """A short label for each token: its text with spaces as '␣' and newlines as '\\n' (so they show), or
    the id when the model has no tokenizer. Characters the plotting font lacks become \\uXXXX escapes rather
    than blank boxes with a warning each; '$' is escaped, as matplotlib would read it as math."""
    if model.tokenizer is None:
        return [str(int(i)) for i in ids]
    glyphs = _font_charmap()
    labels = []
    for i in ids:
        text = model.tokenizer.decode_bytes([int(i)]).decode("utf-8", errors="replace")
        text = text.replace(" ", "\u2423").replace("\n", "\\n").replace("\t", "\\t").replace("$", r"\$")
        labels.append("".join(ch if ord(ch) in glyphs else f"\\u{ord(ch):04x}" for ch in text))
    return labels


@functools.lru_cache(maxsize=1)
def _font_charmap() -> FrozenSet[int]:
    """The code points matplotlib's default font can draw."""
    _pyplot()
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font
    path = font_manager.findfont(font_manager.FontProperties())
    return frozenset(FT2Font(path).get_charmap())


def _tick_labels(ax: Any, axis: str, labels: Sequence[str], rotate: bool = False,
                 max_labels: int = _MAX_LABELS) -> None:
    """Token labels on one axis, thinned to every n-th token when there are more than max_labels."""
    step = max(1, math.ceil(len(labels) / max_labels))
    ticks = list(range(0, len(labels), step))
    if axis == "x":
        ax.set_xticks(ticks, [labels[t] for t in ticks], rotation=90 if rotate else 0, fontsize=8)
    else:
        ax.set_yticks(ticks, [labels[t] for t in ticks], fontsize=8)


def plot_attention(model: Any, text_or_ids: Any, *, layer: Optional[int] = None,
                   heads: Optional[Sequence[int]] = None) -> Any:
    """Attention heatmaps: query position (rows) attends to key position (columns), weights 0..1.

    layer=None: a grid of every layer (rows) and head (columns), token labels on the outer edge only.
    layer=l: that layer's heads (or those in ``heads``), four to a row, each with token labels.
    One axes per heatmap plus one for the colour bar."""
    ids = sequence_ids(model, text_or_ids)
    attentions = model.inspect(ids, hidden_states=False, attentions=True).attentions  # [n_layer, n_head, T, T]
    c = model.config
    heads = list(range(c.n_head)) if heads is None else [int(h) for h in heads]
    bad = [h for h in heads if not 0 <= h < c.n_head]
    if bad or not heads:
        raise ValueError(f"heads must be a non-empty list of head indices in [0, n_head={c.n_head}), got {heads}")
    if layer is not None and not 0 <= layer < c.n_layer:
        raise ValueError(f"layer must be in [0, n_layer={c.n_layer}), got {layer}")
    labels = token_strings(model, ids)
    # (layer, head) of each panel, in reading order. Tick labels go on the outer edge only: drawing them is
    # most of the plot's time, and inner ones would overlap the neighbouring panels.
    if layer is None:
        panels = [(l, h) for l in range(c.n_layer) for h in heads]
        n_rows, n_cols, tile, max_labels = c.n_layer, len(heads), 1.4, 10
        # Fixed margins (inches) instead of constrained layout, which takes seconds over dozens of panels.
        width, height = n_cols * tile + 2.2, n_rows * tile + 1.3
        fig = _figure(width, height, layout=None)
        fig.subplots_adjust(left=0.9 / width, right=1 - 1.3 / width, bottom=0.9 / height, top=1 - 0.3 / height,
                            wspace=0.15, hspace=0.3)
    else:
        panels = [(layer, h) for h in heads]
        n_cols = min(4, len(heads))
        n_rows, tile, max_labels = math.ceil(len(heads) / n_cols), 3.2, _MAX_LABELS
        fig = _figure(n_cols * tile + 1.0, n_rows * tile + 0.4)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax in axes.flat[len(panels):]:
        fig.delaxes(ax)
    image = None
    for k, (l, h) in enumerate(panels):
        ax = axes.flat[k]
        image = ax.imshow(attentions[l, h], vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(f"layer {l} head {h}", fontsize=8)
        if k % n_cols == 0:
            _tick_labels(ax, "y", labels, max_labels=max_labels)
        else:
            ax.set_yticks([])
        if k + n_cols >= len(panels):  # nothing below it
            _tick_labels(ax, "x", labels, rotate=True, max_labels=max_labels)
        else:
            ax.set_xticks([])
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    return fig


def plot_next_token(model: Any, text_or_ids: Any, *, k: int = 10) -> Any:
    """The k most likely next tokens after the text, as horizontal bars of probability."""
    ids = sequence_ids(model, text_or_ids)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= model.vocab_size:
        raise ValueError(f"k must be an integer in [1, vocab_size={model.vocab_size}], got {k!r}")
    logits = model.logits(ids)[-1].astype(np.float64)  # [V]
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    top = np.argsort(-probs, kind="stable")[:k]
    fig = _figure(6.0, 0.35 * k + 1.2)
    ax = fig.subplots()
    y = np.arange(k)[::-1]  # most likely at the top
    ax.barh(y, probs[top], color="tab:blue")
    ax.set_yticks(y, token_strings(model, top))
    for yi, p in zip(y, probs[top]):
        ax.text(p, yi, f" {p:.3g}", va="center", fontsize=8)
    ax.set_xlim(0, min(1.0, probs[top[0]] * 1.25))
    ax.set_xlabel("probability of the next token")
    ax.set_title(f"next token after …{_tail(model, ids)}", fontsize=10)
    return fig


def plot_surprisal(model: Any, text_or_ids: Any) -> Any:
    """Surprisal of each token given the ones before it, -log2 p in bits (the first token has no context and
    no bar). High bars are where the text surprised the model."""
    ids = sequence_ids(model, text_or_ids)
    score = model.score(ids)
    bits = -score.logprobs / math.log(2)  # [T - 1]
    labels = token_strings(model, ids[1:])
    fig = _figure(max(6.0, 0.3 * len(bits) + 1.5), 3.5)
    ax = fig.subplots()
    ax.bar(np.arange(len(bits)), bits, color="tab:red")
    _tick_labels(ax, "x", labels, rotate=True)
    ax.set_ylabel("surprisal (bits)")
    ax.set_title(f"{len(bits)} tokens, mean {bits.mean():.2f} bits/token, perplexity {score.perplexity:.1f}",
                 fontsize=10)
    return fig


def plot_logit_lens(model: Any, text_or_ids: Any, *, color: str = "final") -> Any:
    """The logit lens as a grid: rows are the hidden states (embeddings at the bottom, the model's output at
    the top), columns the input tokens; each cell names the token that state would predict next.

    color="final": the cell's probability of the token the full model predicts there (how early the model
    settles on its answer); color="top": the probability of the cell's own top token (how sure each layer is).
    Readable up to about 25 tokens. One axes plus one for the colour bar."""
    if color not in ("final", "top"):
        raise ValueError(f"color must be 'final' or 'top', got {color!r}")
    lens = logit_lens(model, text_or_ids, top_k=1)
    values = lens.final_token_probs if color == "final" else lens.top_probs[:, :, 0]  # [n_layer + 1, T]
    n_states, T = values.shape
    fig = _figure(min(max(6.0, 0.85 * T + 2.0), 24.0), 0.45 * n_states + 1.6)
    ax = fig.subplots()
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="Blues", vmin=0.0, vmax=max(float(values.max()), 1e-6))
    predicted = lens.top_ids[:, :, 0]
    cut = values.max() / 2  # dark cells get white text
    for layer in range(n_states):
        cells = token_strings(model, predicted[layer])
        for t in range(T):
            ax.text(t, layer, cells[t][:8], ha="center", va="center", fontsize=7,
                    color="white" if values[layer, t] > cut else "black")
    _tick_labels(ax, "x", token_strings(model, lens.token_ids), rotate=True)
    names = ["embeddings"] + [f"after layer {l}" for l in range(n_states - 2)] + ["output"]
    ax.set_yticks(range(n_states), names, fontsize=8)
    ax.set_xlabel("input token (each cell predicts the token after it)")
    what = "probability of the model's final prediction" if color == "final" else "probability of the top token"
    fig.colorbar(image, ax=ax, label=what)
    ax.set_title("logit lens: each hidden state through the final layer norm and the LM head", fontsize=10)
    return fig


def _tail(model: Any, ids: np.ndarray, n_chars: int = 40) -> str:
    """The end of the text, for titles."""
    if model.tokenizer is None:
        return " ".join(str(int(i)) for i in ids[-8:])
    text = model.tokenizer.decode(ids[-32:].tolist())[-n_chars:]
    return text.replace("\n", "\\n").replace("$", r"\$")
