"""Aarslev research greenhouse cell export (``output-YYYY-MM-01-00-00.csv``).

Semicolons, CRLF, one header row: ``Date;Time;"Celle 5: Lufttemperatur";...``. Values are
quoted and may use decimal points or commas (even mixed in one row) and exponents
(``9,22917e-008``); empty cells are absent readings. ``Date`` (``YYYY-MM-DD``) and ``Time``
(``HH:MM:SS``) are local time with summer time: 02:00-02:59 is missing on 2014-03-30, so
the default zone is ``Europe/Copenhagen``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from .csvrows import delimited_rows, header_row, rows_to_blocks
from .records import Block, Context
from .signals import aarslev_target
from .timezones import LocalClock, parse_tz

NAME = "aarslev-cell"
DEFAULT_TZ = "Europe/Copenhagen"
DELIMITER = ";"
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def parse_time(date: str, clock: str) -> datetime:
    d = _DATE.fullmatch(date.strip())
    c = _CLOCK.fullmatch(clock.strip())
    if not d or not c:
        raise ValueError(
            f"cannot parse timestamp {date!r} {clock!r} (expected YYYY-MM-DD and HH:MM:SS)"
        )
    try:
        return datetime(int(d[1]), int(d[2]), int(d[3]), int(c[1]), int(c[2]), int(c[3] or 0))
    except ValueError as err:
        raise ValueError(f"cannot parse timestamp {date!r} {clock!r}: {err}") from None


def parse(ctx: Context) -> Iterator[Block]:
    clock = LocalClock(parse_tz(ctx.tz or DEFAULT_TZ))

    def utc_time(date: str, time_of_day: str) -> datetime:
        return clock.to_utc(parse_time(date, time_of_day))

    with delimited_rows(ctx, DELIMITER) as rows:
        line, header = header_row(rows, ctx)
        width = len(header)
        if width < 3 or normal(header[0]) != "date" or normal(header[1]) != "time":
            raise ctx.refuse("the header must start with Date;Time", line=line)
        columns = [(i + 1, header[i], aarslev_target(header[i], i + 1)) for i in range(2, width)]
        yield from rows_to_blocks(ctx, rows, columns, DELIMITER, time_fields=2, time_of=utc_time)


def normal(text: str) -> str:
    return text.strip().lower()
