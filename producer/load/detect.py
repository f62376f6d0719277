"""The start of a file, as the format modules' content sniffers see it (never its name)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .csvrows import peek
from .errors import LoadError


@dataclass(frozen=True)
class Head:
    """The first kilobytes of a file, leading blanks stripped."""

    text: str

    @property
    def is_json(self) -> bool:
        return self.text[:1] in ("[", "{")

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""

    @property
    def first_lower(self) -> str:
        return self.first_line.lower()


def read_head(path: Path) -> Head:
    """The head of ``path``; LoadError if it cannot be read or is empty."""
    try:
        text = peek(path).lstrip()
    except OSError as err:
        raise LoadError(path, f"cannot read the file: {err.strerror or err}") from None
    if not text:
        raise LoadError(path, "the file is empty", hint="nothing to load")
    return Head(text)
