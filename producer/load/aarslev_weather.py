"""Aarslev outside weather: ``temperature_sunradiation_*.json`` and ``winter2014.csv``.

JSON: a list of two unlabelled series ``{"uuid": ..., "Readings": [[epoch_ms, value], ...]}``;
the series with the higher maximum is sun radiation (:func:`classify`). CSV: semicolons,
``timestamp`` (epoch ms), hourly forecasts and measured ``actual_*`` values. The JSON goes
to weather location ``aarslev-station``, the CSV to ``aarslev-hourly``. The epochs encode a
Copenhagen wall clock as if it were UTC+1 (:func:`epoch_to_utc`).

Why each of these rules holds, with the evidence from the data: docs/loading.md, "Aarslev
outside weather" and "Time zones and clock changes".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from .blocks import Block, BlockBuilder, Context
from .csvrows import delimited_rows, header_row, rows_to_blocks
from .detect import Head
from .jsonfile import json_or_csv, load_json
from .numbers import is_number
from .signals import WEATHER, Target, derived_name
from .timezones import LocalClock, parse_tz

NAME = "aarslev-weather"
DEFAULT_TZ = "Europe/Copenhagen"  # of the wall clock behind the epochs, see above
EXPORT_OFFSET = timedelta(hours=1)  # the exporter encoded wall-clock time as UTC+1
DELIMITER = ";"
TEMPERATURE = "outside_temp_c"
RADIATION = "outside_radiation_w_m2"
# One location per source, so that no source shadows another in weather's primary key.
STATION_LOCATION = "aarslev-station"  # the JSON series, 10 min
HOURLY_LOCATION = "aarslev-hourly"  # winter2014.csv: its actuals differ from the JSON's
CSV_COLUMNS: dict[str, str] = {
    "actual_temperature": "outside_temp_c",  # measured, °C
    "actual_radiation": "outside_radiation_w_m2",  # measured, W/m²
    "temperature": "forecast_temp_c",  # hourly forecast, °C
    "sun_radiation": "forecast_radiation_w_m2",  # hourly forecast, W/m²
}


def sniff(head: Head) -> bool:
    if head.is_json:
        return '"Readings"' in head.text and '"uuid"' in head.text
    return head.first_lower.startswith("timestamp") and "radiation" in head.first_lower


def epoch_to_utc(value: object, clock: LocalClock) -> datetime:
    """UTC of an exported epoch (milliseconds, or seconds if small): the epoch is decoded to
    a wall-clock time at UTC+1, and that wall-clock time is read in ``clock``'s zone
    (default Europe/Copenhagen: unchanged in winter, one hour earlier in summer)."""
    if isinstance(value, str):
        value = float(value.strip())
    if not is_number(value):
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
    """Signal name per series, from the values: the series with the higher maximum is sun
    radiation (hundreds of W/m² around noon even in winter), the other is temperature. The
    file is refused if that reading is implausible (a temperature outside -50..60 °C or a
    radiation below -10 W/m²)."""
    if len(series) != 2:
        raise ctx.refuse(
            f"expected two series (temperature and sun radiation), found {len(series)}"
        )
    peaks = []
    for i, s in enumerate(series):
        values = [r[1] for r in s["Readings"] if is_number(r[1])]
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
            if value is not None and not is_number(value):
                ctx.bad_row(n, f"{where}: value {value!r} is not a finite number")
                continue
            block = builder.add(STATION_LOCATION, time, [value])
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
            signal = CSV_COLUMNS.get(name.lower())
            target = Target(
                WEATHER, HOURLY_LOCATION, signal or derived_name(name), known=bool(signal)
            )
            columns.append((i, name, target))
        yield from rows_to_blocks(ctx, rows, columns, DELIMITER, time_fields=1, time_of=utc_time)
