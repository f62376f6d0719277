"""Aarslev outside weather: ``temperature_sunradiation_*.json`` and ``winter2014.csv``.

JSON: a list of two unlabelled series ``{"uuid": ..., "Readings": [[epoch_ms, value], ...]}``.
Which one is temperature is decided from the values: **the series with the higher maximum
is sun radiation** (W/m², peaks at hundreds around noon even in winter), the other is
outside temperature. The file is refused if the result is implausible: a temperature
outside -50..60 °C or a radiation below -10 W/m².

CSV: semicolons, ``timestamp`` (epoch ms) plus ``temperature``/``sun_radiation`` (hourly
forecasts, stored as ``forecast_temp_c``/``forecast_radiation_w_m2``) and
``actual_temperature``/``actual_radiation`` (measured, stored as ``outside_temp_c``/
``outside_radiation_w_m2``).

Locations: the JSON goes to weather location ``aarslev-station``, the CSV to
``aarslev-hourly``, and neither to ``aarslev``. The cell export's outside columns report the
same signals for the same times and keep ``aarslev`` (the location of site
``aarslev-celle5``); the CSV's hourly actuals differ from the JSON's readings at the same
full hours. One location per source, so none shadows another in ``weather``'s primary key.

Time zone. The epochs are *not* plain UTC: the exporter wrote Copenhagen wall-clock time
as if it were UTC+1 all year. The data shows it: the JSON has no readings for epochs
01:00-01:50 UTC on 2014-03-30 (wall clock 02:00-02:50 at +1, the hour skipped by summer
time), and from April on its radiation peaks one hour later (12:30 UTC) than both solar
noon at Aarslev (about 11:20 UTC) and the cell export's radiation column, while in winter
the two agree to the minute. So an epoch is decoded to a wall-clock time at UTC+1, and
that wall-clock time is read in the format's zone, default ``Europe/Copenhagen``:
unchanged in winter, one hour earlier in summer. ``--tz +01:00`` takes the epochs as they
are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .csvrows import delimited_rows, header_row, rows_to_blocks
from .jsonfile import json_or_csv, load_json
from .records import Block, BlockBuilder, Context
from .signals import (
    AARSLEV_HOURLY_LOCATION,
    AARSLEV_STATION_LOCATION,
    AARSLEV_WEATHER_CSV,
    WEATHER,
    Target,
    derived_name,
)
from .timezones import LocalClock, parse_tz

NAME = "aarslev-weather"
DEFAULT_TZ = "Europe/Copenhagen"  # of the wall clock behind the epochs, see above
EXPORT_OFFSET = timedelta(hours=1)  # the exporter encoded wall-clock time as UTC+1
DELIMITER = ";"
TEMPERATURE = "outside_temp_c"
RADIATION = "outside_radiation_w_m2"


def epoch_to_utc(value: object, clock: LocalClock) -> datetime:
    """UTC of an exported epoch (milliseconds, or seconds if small); see the module doc."""
    if isinstance(value, str):
        value = float(value.strip())
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"cannot parse timestamp {value!r} (expected epoch milliseconds)")
    seconds = value / 1000 if abs(value) > 1e11 else value
    try:
        wall = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None) + EXPORT_OFFSET
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"timestamp {value!r} is out of range") from None
    return clock.to_utc(wall)


def parse(ctx: Context) -> Iterator[Block]:
    return json_or_csv(ctx, parse_json, parse_csv)


def classify(series: list[dict], ctx: Context) -> list[str]:
    """Signal name per series, from the values (see the module docstring)."""
    if len(series) != 2:
        raise ctx.refuse(
            f"expected two series (temperature and sun radiation), found {len(series)}"
        )
    peaks = []
    for i, s in enumerate(series):
        values = [r[1] for r in s["Readings"] if _is_number(r[1])]
        if not values:
            raise ctx.refuse(f"series {i + 1} has no numeric readings")
        peaks.append((max(values), min(values)))
    radiation = 0 if peaks[0][0] > peaks[1][0] else 1
    temperature = 1 - radiation
    t_max, t_min = peaks[temperature]
    if t_max > 60 or t_min < -50 or peaks[radiation][1] < -10:
        raise ctx.refuse(
            "cannot tell which series is temperature and which is sun radiation "
            f"(ranges {peaks[0][1]:g}..{peaks[0][0]:g} and {peaks[1][1]:g}..{peaks[1][0]:g})"
        )
    names = [TEMPERATURE, TEMPERATURE]
    names[radiation] = RADIATION
    return names


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def parse_json(ctx: Context) -> Iterator[Block]:
    data = load_json(ctx)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(
        isinstance(s, dict) and isinstance(s.get("Readings"), list) for s in data
    ):
        raise ctx.refuse('expected a list of {"uuid": ..., "Readings": [[epoch_ms, value]]}')
    signals = classify(data, ctx)
    clock = LocalClock(parse_tz(ctx.tz or DEFAULT_TZ))
    for s, signal in zip(data, signals, strict=True):
        builder = BlockBuilder(WEATHER, (signal,), [0])
        for n, reading in enumerate(s["Readings"], start=1):
            where = f"series {s.get('uuid', '?')} reading {n}"
            if not isinstance(reading, list) or len(reading) != 2:
                ctx.bad_row(n, f"{where}: expected [epoch_ms, value], found {reading!r}")
                continue
            try:
                time = epoch_to_utc(reading[0], clock)
            except ValueError as err:
                ctx.bad_row(n, f"{where}: {err}")
                continue
            value = reading[1]
            if value is not None and not _is_number(value):
                ctx.bad_row(n, f"{where}: value {value!r} is not a number")
                continue
            block = builder.add(AARSLEV_STATION_LOCATION, time, [value])
            if block is not None:
                yield block
        yield from builder.flush()


def parse_csv(ctx: Context) -> Iterator[Block]:
    clock = LocalClock(parse_tz(ctx.tz or DEFAULT_TZ))

    def utc_time(epoch: str) -> datetime:
        return epoch_to_utc(epoch, clock)

    with delimited_rows(ctx, DELIMITER) as rows:
        line, fields = header_row(rows, ctx)
        header = [h.strip() for h in fields]
        if header[0].lower() != "timestamp" or len(header) < 2:
            raise ctx.refuse("the header must start with 'timestamp'", line=line)
        columns = []
        for i, name in enumerate(header[1:], start=2):
            signal = AARSLEV_WEATHER_CSV.get(name.lower())
            target = Target(
                WEATHER, AARSLEV_HOURLY_LOCATION, signal or derived_name(name), known=bool(signal)
            )
            columns.append((i, name, target))
        yield from rows_to_blocks(ctx, rows, columns, DELIMITER, time_fields=1, time_of=utc_time)
