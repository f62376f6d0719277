"""Numbers as the Danish exports write them: decimal commas or points, quoted, maybe empty.

``"20,3"``, ``"20.3"``, ``"9,22917e-008"`` and ``"1.05938e-007"`` all parse, even mixed in
one row. An empty cell is an absent reading (``None``), never a zero. A cell with more than
one separator (``12,3,4``, ``1.234,5``) is refused: thousands separators never occur in
these exports, so such a value means a broken line or a wrong delimiter. A number that
is not finite (``1e999`` overflows to infinity, ``nan``, ``inf``) is no reading either: it
is refused like any other bad cell.
"""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
_CACHE_LIMIT = 200_000


class NumberError(ValueError):
    """A cell that is not a number."""


_cache: dict[str, float] = {}


def parse_number(text: str) -> float | None:
    """The value of one cell; ``None`` for an empty cell; NumberError if it is no number."""
    hit = _cache.get(text)
    if hit is not None:
        return hit
    cell = text.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] == '"':  # quoted inside an unquoted field
        cell = cell[1:-1].strip()
    if not cell:
        return None
    if not _NUMBER.fullmatch(cell):
        raise NumberError(f"cannot parse number {text!r}")
    value = float(cell.replace(",", "."))
    if not math.isfinite(value):
        raise NumberError(f"{text!r} is not a finite number")
    if len(_cache) >= _CACHE_LIMIT:  # bounded memory: repeated values dominate these exports
        _cache.clear()
    _cache[text] = value
    return value


def is_number(value: object) -> bool:
    """True for a finite int or float as JSON decodes it (not a bool, not NaN or infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def json_number(value: object) -> float | None:
    """A JSON cell's number: ``None`` (null) is absent, a string is parsed like a CSV cell,
    anything else must be a finite number (NumberError otherwise)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_number(value)
    if not is_number(value):
        raise NumberError(f"{value!r} is not a finite number")
    return float(value)
