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

from .csvrows import (
    check_header_delimiter,
    field_count_reason,
    open_text,
    parse_cells,
    read_rows,
)
from .records import Block, BlockBuilder, Context, dedupe_signals, group_targets
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
    with open_text(ctx.path) as f:
        check_header_delimiter(f.readline(), DELIMITER, ctx)
        f.seek(0)
        rows = read_rows(f, DELIMITER, ctx)
        item = next(rows, None)
        if item is None:
            raise ctx.refuse("the file is empty")
        header = item[1]
        width = len(header)
        if width < 3 or normal(header[0]) != "date" or normal(header[1]) != "time":
            raise ctx.refuse("the header must start with Date;Time", line=item[0])
        entries = [(i + 1, header[i], aarslev_target(header[i], i + 1)) for i in range(2, width)]
        targets = dedupe_signals(entries, ctx)
        names = header[2:]
        builders = []
        for (table, key), cols in group_targets(targets).items():
            signals = tuple(targets[c].signal for c in cols)
            scales = [targets[c].scale for c in cols]
            builders.append((key, BlockBuilder(table, signals, cols, scales)))
        data_rows = 0
        for line, row in rows:
            data_rows += 1
            if len(row) != width:
                ctx.bad_row(line, field_count_reason(width, len(row), DELIMITER))
                continue
            try:
                time = clock.to_utc(parse_time(row[0], row[1]))
            except ValueError as err:
                ctx.bad_row(line, str(err))
                continue
            values = parse_cells(row[2:], names, line, ctx)
            if values is None:
                continue
            for key, builder in builders:
                block = builder.add(key, time, values)
                if block is not None:
                    yield block
        if data_rows == 0:
            raise ctx.refuse("no data rows after the header (truncated file?)")
        for _, builder in builders:
            yield from builder.flush()


def normal(text: str) -> str:
    return text.strip().lower()
