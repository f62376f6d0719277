"""Energi Data Service ``Elspotprices`` exports, CSV and JSON.

Columns ``HourUTC``, ``HourDK``, ``PriceArea``, ``SpotPriceDKK``, ``SpotPriceEUR`` (per MWh).
CSV as the website exports it (semicolons, decimal commas, ``2019-12-30 22:00``) or with
commas and decimal points; JSON as the API returns it (``{"records": [...]}``) or a bare
list of records, with ISO timestamps (``2019-12-30T22:00:00``). ``HourUTC`` is UTC (the
default zone; ``--tz`` changes how a naive ``HourUTC`` is read). Rows go to
``spot_prices``, keyed by ``PriceArea``; an empty price is stored as NULL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from .blocks import Block, BlockBuilder, Context
from .csvrows import data_rows, header_row, open_text, read_rows
from .detect import Head
from .jsonfile import json_or_csv, load_json
from .numbers import NumberError, json_number
from .signals import SPOT_PRICES
from .timezones import LocalClock, parse_tz

NAME = "elspot"
ALIASES = ("elspotprices",)
DEFAULT_TZ = "UTC"
TIME, AREA, DKK, EUR = "HourUTC", "PriceArea", "SpotPriceDKK", "SpotPriceEUR"
REQUIRED = (TIME, AREA, DKK, EUR)
SIGNALS = ("price_dkk_mwh", "price_eur_mwh")  # SpotPriceDKK, SpotPriceEUR per MWh


def sniff(head: Head) -> bool:
    if head.is_json:
        return TIME in head.text or "SpotPrice" in head.text
    return TIME in head.first_line and "SpotPrice" in head.first_line


def parse_hour(text: str, clock: LocalClock) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"cannot parse timestamp {text!r} (expected YYYY-MM-DD HH:MM or ISO 8601)"
        ) from None
    if stamp.tzinfo is not None:
        return stamp.astimezone(UTC)
    return clock.to_utc(stamp)


def parse(ctx: Context) -> Iterator[Block]:
    return json_or_csv(ctx, parse_json, parse_csv)


def parse_csv(ctx: Context) -> Iterator[Block]:
    clock = LocalClock(parse_tz(ctx.tz or DEFAULT_TZ))
    with open_text(ctx.path) as f:
        first = f.readline()
        delimiter = ";" if first.count(";") >= first.count(",") else ","
        f.seek(0)
        rows = read_rows(f, delimiter, ctx)
        line, fields = header_row(rows, ctx)
        header = [h.strip() for h in fields]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ctx.refuse(
                f"the header lacks {', '.join(missing)} (found {';'.join(header)})",
                line=line,
                hint="is the delimiter ';' or ','?",
            )
        at = {c: header.index(c) for c in REQUIRED}
        extra = [h for h in header if h not in REQUIRED and h != "HourDK"]
        ctx.unknown_columns += [f"{h!r} (ignored: not a price)" for h in extra]
        builder = BlockBuilder(SPOT_PRICES, SIGNALS, [0, 1])
        for line, row in data_rows(rows, len(header), delimiter, ctx):
            block = _row(ctx, clock, builder, line, {c: row[i] for c, i in at.items()})
            if block is not None:
                yield block
        yield from builder.flush()


def parse_json(ctx: Context) -> Iterator[Block]:
    clock = LocalClock(parse_tz(ctx.tz or DEFAULT_TZ))
    data = load_json(ctx)
    records = data.get("records") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise ctx.refuse('expected {"records": [...]} or a list of Elspotprices records')
    builder = BlockBuilder(SPOT_PRICES, SIGNALS, [0, 1])
    for n, record in enumerate(records, start=1):
        if not isinstance(record, dict) or any(c not in record for c in REQUIRED):
            ctx.bad_row(n, f"record {n}: expected the fields {', '.join(REQUIRED)}")
            continue
        block = _row(ctx, clock, builder, n, record, where=f"record {n}: ")
        if block is not None:
            yield block
    yield from builder.flush()


def _row(ctx, clock, builder, line, fields, where="") -> Block | None:
    area = str(fields[AREA] or "").strip().upper()
    if not area:
        ctx.bad_row(line, f"{where}empty {AREA}")
        return None
    try:
        time = parse_hour(str(fields[TIME]), clock)
    except ValueError as err:
        ctx.bad_row(line, f"{where}{err}")
        return None
    try:
        values = [json_number(fields[DKK]), json_number(fields[EUR])]
    except NumberError as err:
        ctx.bad_row(line, f"{where}{err}")
        return None
    return builder.add(area, time, values)
