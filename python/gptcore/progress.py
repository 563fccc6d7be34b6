"""A progress bar for long jobs, on stderr: tqdm.auto shows a widget in notebooks and a text bar in terminals."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional


def wanted() -> bool:
    """Whether to show a bar when nobody said: stderr is a terminal, or a notebook can show the widget."""
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    in_notebook = any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)
    return in_notebook or sys.stderr.isatty()


class Progress:
    """Prompts done of `total`, generated tokens per second and the ETA. enabled=None: :func:`wanted`.

    Messages go through :meth:`write` so they land above the bar instead of breaking it."""

    def __init__(self, total: int, *, enabled: Optional[bool] = None, desc: str = "batch") -> None:
        from tqdm.auto import tqdm  # type: ignore[import-untyped]

        self.enabled = wanted() if enabled is None else enabled
        self._bar: Any = tqdm(total=total, desc=desc, unit="prompt", file=sys.stderr, disable=not self.enabled,
                              dynamic_ncols=True)
        self._tokens = 0
        self._start = time.monotonic()

    def advance(self, tokens: int) -> None:
        """One prompt is done, having generated `tokens` tokens."""
        self._tokens += tokens
        elapsed = max(time.monotonic() - self._start, 1e-9)
        self._bar.set_postfix_str(f"{self._tokens / elapsed:.1f} tok/s", refresh=False)
        self._bar.update(1)

    def write(self, message: str) -> None:
        if self.enabled:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
