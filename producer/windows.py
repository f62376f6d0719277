"""Turning --from/--to/--window into the list of job windows."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from greenhouse_queue.durations import parse_duration

# Windows are aligned to a fixed origin, not to --from, so that enqueueing overlapping
# ranges can never create two windows that overlap. The origin is a Monday (UTC), so
# 7-day windows are ISO weeks and daily windows start at midnight UTC.
ORIGIN = datetime(1970, 1, 5, tzinfo=UTC)
WEEK = timedelta(days=7)


def parse_date(text: str, option: str) -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(f"{option} {text!r} is not a date: use YYYY-MM-DD, e.g. 2015-09-07")


def parse_window(text: str) -> timedelta:
    width = parse_duration(text, "--window")
    if WEEK % width and width % WEEK:
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
