"""Time zones: parse a ``--tz`` value and turn local wall-clock times into UTC.

A zone is either a fixed offset (``UTC``, ``+01:00``, ``UTC+1``, ``-0130``) or an IANA name
(``Europe/Copenhagen``). Fixed offsets never jump. IANA zones follow summer time:

* a local time inside the spring-forward gap does not exist; that row is refused;
* a local time in the repeated autumn hour is read as summer time (the first pass) the
  first time it occurs in a file and as winter time (the second pass) when it occurs again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")


def parse_tz(name: str) -> tzinfo:
    """A tzinfo for ``name``; ValueError when it is neither an offset nor an IANA zone."""
    text = name.strip()
    if text.upper() in {"UTC", "GMT", "Z"}:
        return UTC
    match = _OFFSET.fullmatch(text)
    if match:
        sign = -1 if match[1] == "-" else 1
        minutes = int(match[2]) * 60 + int(match[3] or 0)
        if minutes > 18 * 60:
            raise ValueError(f"offset {name!r} is out of range")
        return timezone(sign * timedelta(minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an offset like +01:00 or a name like "
            "Europe/Copenhagen"
        ) from None


class LocalClock:
    """Converts the local times of one file, in file order, to UTC."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._fixed = zone.utcoffset(None) if isinstance(zone, timezone) else None
        self._seen_ambiguous: set[datetime] = set()

    def to_utc(self, local: datetime) -> datetime:
        """UTC for a naive local time; ValueError if that local time does not exist."""
        if self._fixed is not None:
            return (local - self._fixed).replace(tzinfo=UTC)
        first = local.replace(tzinfo=self.zone, fold=0)
        second = local.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            return first.astimezone(UTC)
        back = first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None)
        if back != local:
            raise ValueError(
                f"local time {local:%Y-%m-%d %H:%M:%S} does not exist in {self.zone} "
                "(the clocks jumped forward)"
            )
        if local in self._seen_ambiguous:
            return second.astimezone(UTC)
        self._seen_ambiguous.add(local)
        return first.astimezone(UTC)
