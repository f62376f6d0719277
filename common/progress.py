"""Progress bars for long work (loading, export, report): on stderr, and only when stderr
is a terminal, so pipes, files, CI logs and cron mails stay clean."""

from __future__ import annotations

import sys

from tqdm import tqdm


def enabled() -> bool:
    """Whether bars are drawn: skip work that only a bar needs (counting lines) when not."""
    return sys.stderr.isatty()


def bar(label: str, total: float | None = None, unit: str = "rows") -> tqdm:
    """A bar to ``update(n)``; silent unless stderr is a terminal. Use it as a context
    manager: it disappears when the work is done (the command prints its own summary)."""
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled(),
        leave=False,
        dynamic_ncols=True,
        mininterval=0.25,
    )
