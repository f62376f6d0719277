"""The one error the loader raises, and the hint that tells how to skip a bad row."""

from __future__ import annotations

from pathlib import Path


class LoadError(Exception):
    """A file was refused. The message names the file, the line, the reason and a fix.

    Nothing from the refused file is committed. ``reports`` holds the reports of the
    files that were loaded (and committed) before this one, in order.
    """

    def __init__(
        self,
        path: Path | str,
        reason: str,
        *,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        self.hint = hint
        self.reports: list = []
        where = f"{self.path}:{line}" if line is not None else f"{self.path}"
        text = f"{where}: {reason}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


SKIP_HINT = "fix the file, or pass --skip-bad-rows to load the good rows and report the bad ones"
