"""Jupyter conveniences. IPython is imported only when a notebook is running, so gptcore needs no Jupyter."""

from __future__ import annotations

import html
import sys
import time
from typing import Any

# Seconds between updates of the shown text: each update is a message to the browser, and a small model
# makes hundreds of tokens a second.
_REFRESH_S = 0.05


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where rich display reaches a browser), False in a terminal or script."""
    ipython = sys.modules.get("IPython")  # a running kernel has imported it; otherwise no notebook
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def show_stream(model: Any, prompt: Any, *, show_prompt: bool = True, **options: Any) -> str:
    """Generate from one prompt with ``model.stream`` and show the text as it arrives: in a notebook as one
    output that updates in place, elsewhere printed to stdout. Takes generate's options; returns the
    generated text (without the prompt).

    show_prompt: show a text prompt before the generated text (token-id prompts are never shown)."""
    pieces = model.stream(prompt, **options)  # checks the options before anything is shown
    shown = prompt if show_prompt and isinstance(prompt, str) else ""
    generated = ""
    if not in_notebook():
        print(shown, end="", flush=True)
        for piece in pieces:
            generated += piece
            print(piece, end="", flush=True)
        print(flush=True)
        return generated

    from IPython.display import display
    handle = display(_text_bundle(shown), raw=True, display_id=True)
    last_update = time.monotonic()
    for piece in pieces:
        generated += piece
        if time.monotonic() - last_update >= _REFRESH_S:
            handle.update(_text_bundle(shown + generated), raw=True)
            last_update = time.monotonic()
    handle.update(_text_bundle(shown + generated), raw=True)
    return generated


def _text_bundle(text: str) -> dict:
    """A display bundle: wrapped preformatted HTML for the notebook, plain text for other front ends."""
    return {"text/plain": text,
            "text/html": f"<pre style='white-space: pre-wrap'>{html.escape(text)}</pre>"}

