"""Physical limits per signal: values outside them are sensor errors, not climate.

One readable table. A name is matched exactly first; a `*` pattern covers numbered
families (`pipe_temp_*_c`). Patterns never overlap one another (tests check it), so
at most one rule applies to any signal. A signal no rule matches passes through
unclipped: we do not guess limits for signals we have not seen.
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
    Limit("air_temp_c",              -10.0,   50.0, "greenhouse air; beyond this the crop is dead"),
    Limit("co2_ppm",                 200.0, 3000.0, "below outdoor air / above dosing maxima"),
    Limit("co2_setpoint_ppm",          0.0, 3000.0, "controller setpoint range"),
    Limit("rh_percent",                0.0,  100.0, "relative humidity"),
    Limit("vpd_kpa",                   0.0,   12.5, "saturation pressure at 50 °C: 12.35 kPa"),
    Limit("humidity_deficit_g_m3",     0.0,   85.0, "saturated air at 50 °C holds 83 g/m³"),
    Limit("heating_setpoint_c",      -10.0,   50.0, "same range as air temperature"),
    Limit("radiation_w_m2",            0.0, 1500.0, "above the solar constant: impossible"),
    Limit("light_intensity_umol",      0.0, 3000.0, "PAR; full summer sun is about 2000 µmol/m²/s"),
    # actuators and heating circuits (numbered families)
    Limit("pipe_temp_*_c",           -10.0,  100.0, "water heating pipes, unpressurised"),
    Limit("flow_temp_*_c",           -10.0,  100.0, "heating flow temperature"),
    Limit("vent_*_percent",            0.0,  100.0, "vent opening"),
    Limit("curtain_*_percent",         0.0,  100.0, "screen position"),
    Limit("lamp_grp*_on",              0.0,    1.0, "lamp group status, 0 = off, 1 = on"),
    Limit("co2_dosing_fraction",       0.0,    1.0, "share of the interval spent dosing"),
    # outside weather (own station, or Open-Meteo); the grid prefixes weather with outside_
    Limit("outside_temp_c",          -40.0,   50.0, "Danish record range with margin"),
    Limit("outside_rh_percent",        0.0,  100.0, "relative humidity"),
    Limit("outside_radiation_w_m2",    0.0, 1500.0, "above the solar constant is impossible"),
    Limit("outside_dew_point_c",     -50.0,   40.0, "dew point never exceeds air temperature"),
    Limit("outside_wind_speed_m_s",    0.0,   75.0, "above hurricane records"),
    Limit("outside_wind_direction_deg", 0.0, 360.0, "compass degrees"),
    Limit("outside_cloud_cover_percent", 0.0, 100.0, "cover fraction"),
    Limit("outside_precipitation_mm",  0.0,  200.0, "per hour, beyond any Danish record"),
    Limit("outside_pressure_hpa",    870.0, 1090.0, "world sea-level pressure records"),
    Limit("outside_forecast_temp_c", -40.0,   50.0, "as outside_temp_c"),
    Limit("outside_forecast_radiation_w_m2", 0.0, 1500.0, "as outside_radiation_w_m2"),
    # day-ahead spot prices (Nord Pool harmonised bounds)
    Limit("spot_price_dk1_eur_mwh",  -500.0, 5000.0, "harmonised min/max clearing price"),
    Limit("spot_price_dk2_eur_mwh",  -500.0, 5000.0, "harmonised min/max clearing price"),
)
# fmt: on


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
