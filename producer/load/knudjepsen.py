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

from .blocks import Block, Context
from .csvrows import delimited_rows, rows_to_blocks
from .detect import Head
from .signals import READINGS, WEATHER, Target, derived_name, normalise
from .timezones import LocalClock, parse_tz

NAME = "knudjepsen"
DEFAULT_TZ = "+01:00"
DELIMITER = ";"
_TIME = re.compile(r"(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?")

# Header row 1 (the measurement, normalised: lower case, single spaces) -> signal. The
# compartment comes from header row 2 (``NORRING:Afd 3``, ``NORRING:AFD 4 VENT REG``,
# ``NORRING:BEL.SYSTEM 3 LAMPGRP 1``); ``VEJRSTATION`` columns are the shared weather
# station and go to weather location ``knudjepsen``, the location of every KnudJepsen
# site. ``{n}`` is the number from the object (lamp group).
CLIMATE: dict[str, str] = {
    "mål temp afd mid": "air_temp_c",  # measured air temperature, middle, °C
    "co2 målt": "co2_ppm",  # measured CO2, ppm
    "mål fd": "humidity_deficit_g_m3",  # measured humidity deficit, g/m3
    "mål rf": "rh_percent",  # measured relative humidity, %
    "mål gard 1": "curtain_1_percent",  # curtain 1 position, %
    "mål gard 2": "curtain_2_percent",  # curtain 2 position, %
    "mål rør 1": "pipe_temp_1_c",  # heating pipe 1 temperature, °C
    "mål rør 2": "pipe_temp_2_c",  # heating pipe 2 temperature, °C
    "mål læ": "vent_lee_percent",  # lee-side vent opening, %
    "mål vind": "vent_wind_percent",  # wind-side vent opening, %
    "målt status": "lamp_grp{n}_on",  # lamp group n status, 0/1 (n from LAMPGRP n)
}
WEATHER_COLUMNS: dict[str, str] = {
    "udetemp": "outside_temp_c",  # outside temperature, °C
    "stråling": "outside_radiation_w_m2",  # solar radiation, W/m²
}
LOCATION = "knudjepsen"


def sniff(head: Head) -> bool:
    return not head.is_json and "NORRING" in head.text


def target(measurement: str, obj: str, unit: str, column: int) -> Target:
    """Where a KnudJepsen column goes, from its three header rows."""
    key = normalise(measurement)
    if "VEJRSTATION" in obj.upper():
        signal = WEATHER_COLUMNS.get(key)
        if signal:
            return Target(WEATHER, LOCATION, signal)
        return Target(WEATHER, LOCATION, derived_name(measurement, unit), known=False)
    compartment = re.search(r"(?:AFD|BEL\.?\s*SYSTEM)\s*(\d+)", obj, re.IGNORECASE)
    site = f"knudjepsen-afd{compartment[1]}" if compartment else "knudjepsen"
    template = CLIMATE.get(key)
    if template and "{n}" in template:
        number = re.search(r"LAMPGRP\s*(\d+)", obj, re.IGNORECASE)
        template = template.format(n=number[1]) if number else None
    if template and compartment:
        return Target(READINGS, site, template, location=LOCATION)
    signal = derived_name(measurement or f"col{column}", unit)
    return Target(READINGS, site, signal, known=False, location=LOCATION)


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
            (i + 1, f"{headers[0][i]} | {headers[1][i]}", target(*col, column=i + 1))
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
