"""Aarslev research greenhouse cell export (``output-YYYY-MM-01-00-00.csv``).

Semicolons, CRLF, one header row: ``Date;Time;"Celle 5: Lufttemperatur";...``. Values are
quoted and may use decimal points or commas (even mixed in one row) and exponents
(``9,22917e-008``); empty cells are absent readings. ``Date`` (``YYYY-MM-DD``) and ``Time``
(``HH:MM:SS``) are local time with summer time: 02:00-02:59 is missing on 2014-03-30, so
the default zone is ``Europe/Copenhagen``.

Each cell is a site (``aarslev-celle5``). Its outside columns (``Udetemperatur``,
``Solindstråling``) are the outside sensors of that cell's climate computer: they go to a
weather location of the cell's own, named like the site, which is also the location the
site is created with. Two cells' exports of the same hours therefore never share (and
overwrite) outside readings. See docs/loading.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from .blocks import Block, Context
from .csvrows import delimited_rows, header_row, rows_to_blocks
from .detect import Head
from .signals import READINGS, WEATHER, Target, derived_name, normalise
from .timezones import LocalClock, parse_tz

NAME = "aarslev-cell"
DEFAULT_TZ = "Europe/Copenhagen"
DELIMITER = ";"
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")

# The part of ``"Celle 5: Lufttemperatur"`` after the colon (normalised) -> (signal, scale).
CLIMATE: dict[str, tuple[str, float]] = {
    "lufttemperatur": ("air_temp_c", 1.0),  # air temperature, °C
    "endelig fælles varme sætpunkt": ("heating_setpoint_c", 1.0),  # final heating setpoint
    "vent. position 1": ("vent_pos_1_percent", 1.0),  # vent 1 opening, %
    "vent. position 2": ("vent_pos_2_percent", 1.0),  # vent 2 opening, %
    "luftfugtighed rh%": ("rh_percent", 1.0),  # relative humidity, %
    "luftfugtighed vpd": ("vpd_kpa", 0.1),  # logged in hPa (10-14 at 45 % RH): stored as kPa
    "co2": ("co2_ppm", 1.0),  # CO2, ppm
    "co2 krav": ("co2_setpoint_ppm", 1.0),  # CO2 setpoint ("krav" = demand), ppm
    "co2 dosering": ("co2_dosing_fraction", 1.0),  # share of the interval dosing, 0..1
    "lys intensitet": ("light_intensity_umol", 1.0),  # light intensity, µmol/m²/s
    "gardin 1 position": ("curtain_1_percent", 1.0),  # curtain 1 position, %
    "flow temperatur 1": ("pipe_temp_1_c", 1.0),  # heating circuit 1 flow temperature, °C
    "flow temperatur 2": ("pipe_temp_2_c", 1.0),  # heating circuit 2 flow temperature, °C
}
WEATHER_COLUMNS: dict[str, str] = {
    "udetemperatur": "outside_temp_c",  # outside temperature, °C
    "solindstråling": "outside_radiation_w_m2",  # solar radiation, W/m²
}


def sniff(head: Head) -> bool:
    return not head.is_json and head.first_lower.startswith("date") and "celle" in head.first_lower


def target(header: str, column: int) -> Target:
    """Where an Aarslev cell column (``"Celle 5: Lufttemperatur"``) goes."""
    prefix, _, name = header.partition(":")
    cell = re.search(r"celle\s*(\d+)", prefix, re.IGNORECASE)
    site = f"aarslev-celle{cell[1]}" if cell else f"aarslev-{derived_name(prefix)}"
    key = normalise(name)
    if key in WEATHER_COLUMNS:
        return Target(WEATHER, site, WEATHER_COLUMNS[key])  # the cell's own outside sensors
    if key in CLIMATE:
        signal, scale = CLIMATE[key]
        return Target(READINGS, site, signal, scale, location=site)
    signal = derived_name(name) if key else f"unnamed_col{column}"
    return Target(READINGS, site, signal, known=False, location=site)


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
        columns = [(i + 1, header[i], target(header[i], i + 1)) for i in range(2, width)]
        yield from rows_to_blocks(ctx, rows, columns, DELIMITER, time_fields=2, time_of=utc_time)


def normal(text: str) -> str:
    return text.strip().lower()
