"""Physical limits per signal: a raw sample outside them is a sensor fault, not climate.

One readable table. A limit must reject what a sensor or logger cannot mean (error codes
such as -214748000, a CO2 sensor reading 0 ppm, the Aarslev logger's 0 % humidity) and
never what a greenhouse or the weather really does: a closed glasshouse in full sun above
50 °C, a crop drawing CO2 below outdoor air. So the bounds are what greenhouses and
weather can reach, with a margin, not what is usual; each row says why.

The reasons in full, with what the data shows: docs/stages.md, "Physical limits".

A name is matched exactly first; a `*` pattern covers numbered families
(`pipe_temp_*_c`). Patterns never overlap one another (tests check it), so at most one
rule applies to any signal. A signal no rule matches passes through unclipped: we do
not guess limits for signals we have not seen.

Both sides use the table: stage 1 applies it to every raw sample (sql/inputs.sql), and
the loader reports a signal that loses most of its samples to it (docs/stages.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np


@dataclass(frozen=True)
class Limit:
    signal: str  # exact canonical name, or a pattern with one `*`
    low: float
    high: float
    why: str  # where the numbers come from, for the reader

    @property
    def is_pattern(self) -> bool:
        return "*" in self.signal


# fmt: off
LIMITS: tuple[Limit, ...] = (
    # indoor climate
    Limit("air_temp_c",              -40.0,   65.0, "unheated frost; sunlit glass above 50 °C"),
    Limit("co2_ppm",                 100.0, 5000.0, "crop drawdown (188 seen); 0 = dead"),
    Limit("co2_setpoint_ppm",          0.0, 5000.0, "controller setpoint; 0 = no dosing"),
    Limit("rh_percent",                1.0,  102.0, "0 % is a dropout; fog reads up to 102 %"),
    Limit("vpd_kpa",                   0.0,   25.0, "saturation pressure at 65 °C: 25 kPa"),
    Limit("humidity_deficit_g_m3",     0.0,  161.0, "saturated air at 65 °C: 161 g/m³"),
    Limit("heating_setpoint_c",      -10.0,   50.0, "frost protection to hot-house settings"),
    Limit("radiation_w_m2",          -10.0, 1500.0, "night offset; above sun plus cloud edges"),
    Limit("light_intensity_umol",      0.0, 3000.0, "PAR; full sun is about 2000 µmol/m²/s"),
    # actuators and heating circuits (numbered families)
    Limit("pipe_temp_*_c",           -10.0,  130.0, "hot water, up to 130 °C pressurised"),
    Limit("flow_temp_*_c",           -10.0,  130.0, "as pipe_temp_*_c"),
    Limit("vent_*_percent",            0.0,  100.0, "vent opening"),
    Limit("curtain_*_percent",         0.0,  100.0, "screen position"),
    Limit("lamp_grp*_on",              0.0,    1.0, "lamp group status, 0 = off, 1 = on"),
    Limit("co2_dosing_fraction",       0.0,    1.0, "share of the interval spent dosing"),
    # outside weather (own station, or Open-Meteo); the grid prefixes weather with outside_
    Limit("outside_temp_c",          -50.0,   60.0, "beyond the world records"),
    Limit("outside_rh_percent",        0.0,  102.0, "as rh_percent, deserts included"),
    Limit("outside_radiation_w_m2",  -10.0, 1500.0, "as radiation_w_m2"),
    Limit("outside_dew_point_c",     -60.0,   40.0, "the record dew point is 35 °C"),
    Limit("outside_wind_speed_m_s",    0.0,   75.0, "above hurricane records"),
    Limit("outside_wind_direction_deg", 0.0, 360.0, "compass degrees"),
    Limit("outside_cloud_cover_percent", 0.0, 100.0, "cover fraction"),
    Limit("outside_precipitation_mm",  0.0,  310.0, "per hour; the world record is 305 mm"),
    Limit("outside_pressure_hpa",    870.0, 1090.0, "world sea-level pressure records"),
    Limit("outside_forecast_temp_c", -50.0,   60.0, "as outside_temp_c"),
    Limit("outside_forecast_radiation_w_m2", -10.0, 1500.0, "as outside_radiation_w_m2"),
    # day-ahead spot prices (the SDAC harmonised clearing-price bounds)
    Limit("spot_price_dk1_eur_mwh",  -500.0, 5000.0, "SDAC bounds -500/+4000, margin"),
    Limit("spot_price_dk2_eur_mwh",  -500.0, 5000.0, "SDAC bounds -500/+4000, margin"),
)
# fmt: on


def weather_grid_name(signal: str) -> str:
    """The name a weather signal has on the grid, and is judged under: outside_*."""
    return signal if signal.startswith("outside_") else f"outside_{signal}"


def price_grid_name(area: str) -> str:
    """The grid column of an area's EUR price (``DK1`` -> ``spot_price_dk1_eur_mwh``)."""
    return f"spot_price_{area.lower()}_eur_mwh"


def limit_for(signal: str, limits: Sequence[Limit] = LIMITS) -> Limit | None:
    """The rule for a signal: an exact name wins over a pattern; None = unclipped."""
    for rule in limits:
        if not rule.is_pattern and rule.signal == signal:
            return rule
    for rule in limits:
        if rule.is_pattern and fnmatchcase(signal, rule.signal):
            return rule
    return None


def bounds(
    signals: Iterable[str], limits: Sequence[Limit] = LIMITS
) -> tuple[np.ndarray, np.ndarray]:
    """Per-signal (low, high) arrays; -inf/+inf for signals without a rule."""
    names = list(signals)
    low = np.full(len(names), -np.inf)
    high = np.full(len(names), np.inf)
    for i, name in enumerate(names):
        rule = limit_for(name, limits)
        if rule is not None:
            low[i], high[i] = rule.low, rule.high
    return low, high


def like_pattern(rule: Limit) -> str:
    """The rule as a SQL LIKE pattern (escape `\\`), so the database applies the same table."""
    escaped = rule.signal.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")
