"""The input formats: one module each, registered in one tuple.

A format module declares ``NAME`` (what ``--format`` takes), ``sniff(head)`` (does this
file's content look like mine?) and ``parse(ctx)`` (the file's blocks); ``ALIASES`` is
optional. A new format is a new module plus one entry in :data:`MODULES`. Detection asks
the sniffers in this order and takes the first that answers yes.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from . import aarslev_cell, aarslev_weather, elspot, knudjepsen, openmeteo
from .detect import read_head
from .errors import LoadError

MODULES: tuple[ModuleType, ...] = (knudjepsen, aarslev_cell, aarslev_weather, elspot, openmeteo)
FORMATS: tuple[str, ...] = tuple(m.NAME for m in MODULES)


def format_named(name: str) -> ModuleType:
    """``aarslev_cell`` / ``Aarslev-Cell`` / an alias -> its module; ValueError if unknown."""
    key = name.strip().lower().replace("_", "-")
    for module in MODULES:
        if key == module.NAME or key in getattr(module, "ALIASES", ()):
            return module
    raise ValueError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")


def detect_format(path: Path) -> str:
    """The format name of ``path`` from its first kilobytes; LoadError if none fits."""
    head = read_head(path)
    for module in MODULES:
        if module.sniff(head):
            return module.NAME
    raise LoadError(
        path,
        f"unknown format: the content matches none of {', '.join(FORMATS)} "
        f"(first line: {head.first_line[:80]!r})",
        line=1,
        hint="pass --format to force one",
    )
