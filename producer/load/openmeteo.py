"""Open-Meteo archive exports (``archive-api.open-meteo.com/v1/archive``), JSON and CSV.

JSON: ``{"utc_offset_seconds", "timezone", "hourly_units": {...}, "hourly": {"time": [...],
"temperature_2m": [...], ...}}``, or a list of such objects (several locations). CSV: a
metadata block (``latitude,longitude,elevation,utc_offset_seconds,timezone,...``), a blank
line, then ``time,temperature_2m (°C),...`` with units in brackets; ``NaN`` is empty.
Sections without a time of day (``daily``) are skipped and reported.

Times are ISO local times in the file's own ``timezone`` (default zone: that one, else
``utc_offset_seconds``; ``--tz`` overrides it), or ``unixtime`` integers (absolute).
Known variables map to canonical weather signals, converted to their units (wind from
km/h to m/s, °F to °C, inch to mm); other variables load under their own name plus unit
and are reported. Open-Meteo files have no site: the weather location is ``--location``,
default ``open-meteo`` (``open-meteo-1``, ``-2``, ... for several locations).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from .blocks import Block, BlockBuilder, Context
from .csvrows import open_text
from .detect import Head
from .jsonfile import json_or_csv, load_json
from .numbers import NumberError, json_number
from .signals import WEATHER, derived_name
from .timezones import LocalClock, parse_tz

NAME = "open-meteo"
ALIASES = ("openmeteo",)
DEFAULT_TZ = None  # the file's own timezone / utc_offset_seconds
DEFAULT_LOCATION = "open-meteo"

# variable -> (signal, {unit as Open-Meteo writes it: factor to the signal's unit}).
# Open-Meteo's default wind unit is km/h; the canonical signal is m/s.
VARIABLES: dict[str, tuple[str, dict[str, float | None]]] = {
    "temperature_2m": ("outside_temp_c", {"°C": 1.0, "°F": None}),
    "relative_humidity_2m": ("outside_rh_percent", {"%": 1.0}),
    "precipitation": ("precipitation_mm", {"mm": 1.0, "inch": 25.4}),
    "shortwave_radiation": ("outside_radiation_w_m2", {"W/m²": 1.0, "W/m2": 1.0}),
    "wind_speed_10m": (
        "wind_speed_m_s",
        {"m/s": 1.0, "km/h": 1 / 3.6, "mp/h": 0.44704, "mph": 0.44704, "kn": 0.514444},
    ),
    "pressure_msl": ("pressure_hpa", {"hPa": 1.0}),
    "cloud_cover": ("cloud_cover_percent", {"%": 1.0}),
}
VARIABLE_ALIASES: dict[str, str] = {  # older API spellings
    "windspeed_10m": "wind_speed_10m",
    "cloudcover": "cloud_cover",
    "relativehumidity_2m": "relative_humidity_2m",
}


def sniff(head: Head) -> bool:
    if head.is_json:
        return '"hourly"' in head.text or '"utc_offset_seconds"' in head.text
    first = head.first_lower
    return "utc_offset_seconds" in first or (first.startswith("time") and "temperature_2m" in first)


def _converter(var: str, unit: str | None, ctx: Context):
    """(signal, convert, known) for one variable; unknown units of known variables refused."""
    name = VARIABLE_ALIASES.get(var, var)
    if name not in VARIABLES:
        return derived_name(var, unit or ""), (lambda v: v), False
    signal, units = VARIABLES[name]
    if unit is None or unit == "":
        return signal, (lambda v: v), True
    if unit == "°F":
        return signal, (lambda v: (v - 32.0) * 5.0 / 9.0), True
    factor = units.get(unit)
    if factor is None:
        raise ctx.refuse(f"unknown unit {unit!r} for {var}", hint=f"expected one of {list(units)}")
    return signal, (lambda v: v * factor), True


def _zone(ctx: Context, meta: dict[str, Any]) -> tzinfo:
    if ctx.tz:
        return parse_tz(ctx.tz)
    name = str(meta.get("timezone") or "")
    if name:
        try:
            return parse_tz(name)
        except ValueError:
            pass
    offset = meta.get("utc_offset_seconds")
    try:
        return timezone(timedelta(seconds=int(float(offset or 0))))
    except (TypeError, ValueError):
        raise ctx.refuse(f"cannot read utc_offset_seconds {offset!r}") from None


def _time(value: Any, clock: LocalClock) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot parse timestamp {text!r} (expected ISO 8601 or unixtime)"
        ) from None
    if len(text) <= 10:
        raise ValueError(f"timestamp {text!r} has no time of day")
    return stamp.astimezone(UTC) if stamp.tzinfo else clock.to_utc(stamp)


def _value(v: Any) -> float | None:
    """A cell's number. Open-Meteo writes a missing value as ``NaN`` in CSV and ``null`` in
    JSON: both are absent readings. Any other non-finite number is a bad row."""
    if isinstance(v, str) and v.strip().lower() in {"nan", "null"}:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return json_number(v)


def location_name(ctx: Context, index: int, count: int) -> str:
    base = ctx.location or DEFAULT_LOCATION
    return base if count == 1 else f"{base}-{index + 1}"


def parse(ctx: Context) -> Iterator[Block]:
    return json_or_csv(ctx, parse_json, parse_csv)


def parse_json(ctx: Context) -> Iterator[Block]:
    data = load_json(ctx)
    objects = data if isinstance(data, list) else [data]
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("hourly"), dict):
            raise ctx.refuse('expected an Open-Meteo response with an "hourly" object')
        for section in ("daily", "current", "minutely_15"):
            if section in obj:
                ctx.unknown_columns.append(f"{section!r} section (skipped: not hourly)")
        yield from _hourly_json(ctx, obj, location_name(ctx, i, len(objects)))


def _hourly_json(ctx: Context, obj: dict, location: str) -> Iterator[Block]:
    hourly, units = obj["hourly"], obj.get("hourly_units") or {}
    times = hourly.get("time")
    if not isinstance(times, list):
        raise ctx.refuse('"hourly" has no "time" list')
    clock = LocalClock(_zone(ctx, obj))
    variables = [k for k in hourly if k != "time"]
    columns = []
    for var in variables:
        series = hourly[var]
        if not isinstance(series, list) or len(series) != len(times):
            raise ctx.refuse(f'"hourly.{var}" is not a list as long as "hourly.time"')
        signal, convert, known = _converter(var, units.get(var), ctx)
        if not known:
            ctx.unknown_columns.append(f"{var!r} -> {location}/{signal}")
        columns.append((signal, convert, series))
    builder = BlockBuilder(WEATHER, tuple(c[0] for c in columns), list(range(len(columns))))
    for n, stamp in enumerate(times):
        try:
            time = _time(stamp, clock)
            row = []
            for _, convert, series in columns:
                v = _value(series[n])
                row.append(None if v is None else convert(v))
        except (ValueError, NumberError) as err:
            ctx.bad_row(n + 1, f"hourly record {n + 1}: {err}")
            continue
        block = builder.add(location, time, row)
        if block is not None:
            yield block
    yield from builder.flush()


def _split_unit(header: str) -> tuple[str, str | None]:
    name, _, rest = header.strip().partition(" (")
    return name.strip(), (rest[:-1] if rest.endswith(")") else None)


def parse_csv(ctx: Context) -> Iterator[Block]:
    """Sections: optional metadata, then one or more tables starting with a ``time`` header."""
    metas: list[dict[str, str]] = []
    with open_text(ctx.path) as f:
        reader = csv.reader(f, strict=True)
        state, meta_header, section = "start", None, None
        data_rows = 0
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    state = "blank"
                    continue
                first = row[0].strip()
                if first in {"latitude", "location_id"} and "latitude" in row:
                    meta_header, state = [c.strip() for c in row], "meta"
                    continue
                if state == "meta" and meta_header:
                    if len(row) != len(meta_header):
                        raise ctx.refuse("metadata row does not match its header", line=line)
                    metas.append(dict(zip(meta_header, row, strict=True)))
                    continue
                if first == "time" or (
                    first == "location_id" and len(row) > 1 and row[1] == "time"
                ):
                    if section is not None:
                        yield from section.flush_all()
                    section = _Section(ctx, row, metas, line)
                    state = "table"
                    continue
                if section is None:
                    if ";" in row[0] or len(row) == 1:
                        raise ctx.refuse(
                            "wrong delimiter: Open-Meteo CSV separates fields with ','",
                            line=line,
                        )
                    raise ctx.refuse("no 'time' header before the data", line=line)
                data_rows += 1
                block = section.add(row, line)
                if block is not None:
                    yield block
        except csv.Error as err:
            raise ctx.refuse(
                f"malformed line: {err}",
                line=reader.line_num,
                hint="the file looks truncated or its quoting is broken",
            ) from None
        if section is None or data_rows == 0:
            raise ctx.refuse("no hourly data rows (truncated file?)")
        yield from section.flush_all()


class _Section:
    """One ``time,...`` table of an Open-Meteo CSV; blocks carry on across sections."""

    def __init__(self, ctx: Context, header: list[str], metas: list[dict], line: int):
        self.ctx = ctx
        self.line = line
        self.has_id = header[0].strip() == "location_id"
        self.width = len(header)
        first = 2 if self.has_id else 1
        self.columns = []
        self.daily: bool | None = None
        self.header = header
        for h in header[first:]:
            var, unit = _split_unit(h)
            signal, convert, known = _converter(var, unit, ctx)
            self.columns.append((h, var, signal, convert, known))
        self.first = first
        self.metas = metas
        self.clocks: dict[int, LocalClock] = {}
        self.builders: dict[int, BlockBuilder] = {}
        self.reported = False
        self.count = max(len(metas), 1)

    def _clock(self, index: int) -> LocalClock:
        if index not in self.clocks:
            meta = self.metas[index] if index < len(self.metas) else {}
            self.clocks[index] = LocalClock(_zone(self.ctx, meta))
        return self.clocks[index]

    def add(self, row: list[str], line: int) -> Block | None:
        ctx = self.ctx
        if len(row) != self.width:
            ctx.bad_row(line, f"expected {self.width} fields separated by ',', found {len(row)}")
            return None
        stamp = row[self.first - 1].strip()
        if self.daily is None:
            self.daily = len(stamp) <= 10 and not stamp.lstrip("-").isdigit()
            if self.daily:
                ctx.unknown_columns.append(
                    f"section at line {self.line} (skipped: daily values, not hourly)"
                )
        if self.daily:
            return None
        index = int(row[0]) if self.has_id and row[0].strip().isdigit() else 0
        location = location_name(ctx, index, self.count)
        if not self.reported:
            self.reported = True
            for h, _, signal, _, known in self.columns:
                if not known:
                    ctx.unknown_columns.append(f"{h!r} -> {location}/{signal}")
        try:
            time = _time(stamp, self._clock(index))
            values = []
            for cell, (_, _, _, convert, _) in zip(row[self.first :], self.columns, strict=True):
                v = _value(cell)
                values.append(None if v is None else convert(v))
        except (ValueError, NumberError) as err:
            ctx.bad_row(line, str(err))
            return None
        builder = self.builders.get(index)
        if builder is None:
            signals = tuple(c[2] for c in self.columns)
            builder = BlockBuilder(WEATHER, signals, list(range(len(signals))))
            self.builders[index] = builder
        return builder.add(location, time, values)

    def flush_all(self) -> Iterator[Block]:
        for builder in self.builders.values():
            yield from builder.flush()
