"""Progress bars for long work (loading, export, report): on stderr, and only when stderr
is a terminal, so pipes, files, CI logs and cron mails stay clean."""

from __future__ import annotations

import shutil
import sys

from tqdm import tqdm


def enabled() -> bool:
    """Whether bars are drawn: skip work that only a bar needs (counting lines) when not."""
    return sys.stderr.isatty()


def bar(label: str, total: float | None = None, unit: str = "rows") -> tqdm:
    """A bar to ``update(n)``; silent unless stderr is a terminal. Use it as a context
    manager: it disappears when the work is done (the command prints its own summary)."""
    # A terminal that reports no size (a bare pty) would otherwise hide the bar entirely.
    columns, lines = shutil.get_terminal_size((80, 24))
    return tqdm(
        total=total,
        desc=label,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled(),
        leave=False,
        ncols=min(100, columns or 80),
        nrows=lines or 24,
        mininterval=0.25,
    )
