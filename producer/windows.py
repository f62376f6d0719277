"""Turning --from/--to/--window into the list of job windows."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

# Windows are aligned to a fixed origin, not to --from, so that enqueueing overlapping
# ranges can never create two windows that overlap. The origin is a Monday (UTC), so
# 7-day windows are ISO weeks and daily windows start at midnight UTC.
ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)
_WINDOW = re.compile(r"^(?P<count>\d+)(?P<unit>[mhd])$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_date(text: str, option: str) -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"{option} {text!r} is not a date: use YYYY-MM-DD, e.g. 2015-09-07")


def parse_window(text: str) -> timedelta:
    match = _WINDOW.fullmatch(text.strip())
    if not match:
        raise ValueError(
            f"--window {text!r} is not a duration: use a positive count and a unit m, h or d, "
            "e.g. 6h, 1d or 7d"
        )
    width = int(match["count"]) * _UNITS[match["unit"]]
    if width <= timedelta(0):
        raise ValueError(f"--window {text!r} must be longer than zero")
    if timedelta(days=7) % width and width % timedelta(days=7):
        raise ValueError(
            f"--window {text!r} must divide a week or be a whole number of weeks, "
            "so that windows line up from one enqueue to the next"
        )
    return width


def windows(first_day: date, last_day: date, width: timedelta) -> list[tuple[datetime, datetime]]:
    """Aligned windows covering the UTC days first_day..last_day, both inclusive."""
    if first_day > last_day:
        raise ValueError(
            f"--from {first_day} is after --to {last_day}: the range must not run backwards"
        )
    start = datetime.combine(first_day, datetime.min.time(), UTC)
    stop = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), UTC)
    cursor = start - (start - ORIGIN) % width
    found = []
    while cursor < stop:
        found.append((cursor, cursor + width))
        cursor += width
    return found


def format_width(width: timedelta) -> str:
    """The shortest of 7d, 6h or 30m that names ``width``."""
    for unit in ("d", "h", "m"):
        count, rest = divmod(width, _UNITS[unit])
        if not rest:
            return f"{count}{unit}"
    return str(width)
