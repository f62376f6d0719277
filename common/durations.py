"""Durations as users type them: 30m, 6h, 1d, 7d."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^(?P<count>\d+)(?P<unit>[mhd])$")
UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_duration(text: str, option: str) -> timedelta:
    """A positive duration such as 30m, 6h or 7d; the error names ``option``."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(
            f"{option} {text!r} is not a duration: use a positive count and a unit m, h or d, "
            "e.g. 6h, 1d or 7d"
        )
    width = int(match["count"]) * UNITS[match["unit"]]
    if width <= timedelta(0):
        raise ValueError(f"{option} {text!r} must be longer than zero")
    return width


def format_duration(width: timedelta) -> str:
    """The shortest of 7d, 6h or 30m that names ``width``."""
    for unit, size in UNITS.items():
        count, rest = divmod(width, size)
        if not rest:
            return f"{count}{unit}"
    return str(width)
