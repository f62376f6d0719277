"""Numbers as the Danish exports write them: decimal commas or points, quoted, maybe empty.

``"20,3"``, ``"20.3"``, ``"9,22917e-008"`` and ``"1.05938e-007"`` all parse, even mixed in
one row. An empty cell is an absent reading (``None``), never a zero. A cell with more than
one separator (``12,3,4``, ``1.234,5``) is refused: thousands separators never occur in
these exports, so such a value means a broken line or a wrong delimiter.
"""

from __future__ import annotations

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
    if len(_cache) >= _CACHE_LIMIT:  # bounded memory: repeated values dominate these exports
        _cache.clear()
    _cache[text] = value
    return value
