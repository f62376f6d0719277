"""KnudJepsen climate-computer export (``NO3_LAMPEGRP_1.csv`` and friends).

Semicolons, decimal commas, CRLF, ``""`` for empty cells, and three header rows:
measurement (Danish), controller object (which compartment, or ``VEJRSTATION``) and unit.
Timestamps are ``"DD-MM-YYYY HH:MM:SS"`` on a clock that keeps UTC+1 all year (02:00 exists
on the spring-forward day and no hour repeats in October), so the default zone is
``+01:00``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from .csvrows import delimited_rows, rows_to_blocks
from .records import Block, Context
from .signals import knudjepsen_target
from .timezones import LocalClock, parse_tz

NAME = "knudjepsen"
DEFAULT_TZ = "+01:00"
DELIMITER = ";"
_TIME = re.compile(r"(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?")


def parse_time(text: str) -> datetime:
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise ValueError(f"cannot parse timestamp {text!r} (expected DD-MM-YYYY HH:MM:SS)")
    d, m, y, hh, mm, ss = match.groups()
    try:
        return datetime(int(y), int(m), int(d), int(hh), int(mm), int(ss or 0))
    except ValueError as err:
        raise ValueError(f"cannot parse timestamp {text!r}: {err}") from None


def parse(ctx: Context) -> Iterator[Block]:
    clock = LocalClock(parse_tz(ctx.tz or DEFAULT_TZ))

    def utc_time(text: str) -> datetime:
        return clock.to_utc(parse_time(text))

    with delimited_rows(ctx, DELIMITER) as rows:
        headers = []
        for _ in range(3):
            item = next(rows, None)
            if item is None:
                raise ctx.refuse("the three header rows are incomplete (truncated file?)")
            headers.append(item[1])
        width = len(headers[0])
        if width < 2 or any(len(h) != width for h in headers):
            raise ctx.refuse(
                "the three header rows (measurement, object, unit) differ in length",
                line=1,
            )
        columns = [
            (i + 1, f"{headers[0][i]} | {headers[1][i]}", knudjepsen_target(*col, column=i + 1))
            for i, col in enumerate(zip(headers[0], headers[1], headers[2], strict=True))
            if i > 0
        ]
        yield from rows_to_blocks(
            ctx,
            rows,
            columns,
            DELIMITER,
            time_fields=1,
            time_of=utc_time,
            after="the three header rows",
        )
