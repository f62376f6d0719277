"""The mapping from the exports' column names to canonical signal names, in one place.

Canonical names carry their unit (``air_temp_c``, ``co2_ppm``, ``rh_percent``). A column
lands either in ``readings`` (a greenhouse compartment's climate, keyed by site) or in
``weather`` (an outside weather station, keyed by location). A column that is not in these
tables is still loaded, under a name derived from its header (:func:`derived_name`), and
reported as unknown; nothing is dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

READINGS = "readings"
WEATHER = "weather"
SPOT_PRICES = "spot_prices"


@dataclass(frozen=True)
class Target:
    """Where one column's cells go: table, site or location, signal, and a unit scale."""

    table: str
    key: str
    signal: str
    scale: float = 1.0
    known: bool = True


# --- KnudJepsen climate computer ------------------------------------------------------
# Header row 1 (the measurement, normalised: lower case, single spaces) -> signal.
# The compartment comes from header row 2 (``NORRING:Afd 3``, ``NORRING:AFD 4 VENT REG``,
# ``NORRING:BEL.SYSTEM 3 LAMPGRP 1``); ``VEJRSTATION`` columns are the shared weather
# station and go to weather location ``knudjepsen``. ``{n}`` is the number from the object
# (lamp group, curtain, pipe).
KNUDJEPSEN_CLIMATE: dict[str, str] = {
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
KNUDJEPSEN_WEATHER: dict[str, str] = {
    "udetemp": "outside_temp_c",  # outside temperature, °C
    "stråling": "outside_radiation_w_m2",  # solar radiation, W/m²
}
KNUDJEPSEN_LOCATION = "knudjepsen"

# --- Aarslev research greenhouse, cell export -----------------------------------------
# Column ``"Celle 5: Lufttemperatur"`` -> site ``aarslev-celle5``, the part after the colon
# (normalised) -> (signal, scale). ``Udetemperatur`` and ``Solindstråling`` are the outside
# weather as the cell's climate computer logs it and go to weather location ``aarslev``, the
# location of the site ``aarslev-celle5``.
AARSLEV_CLIMATE: dict[str, tuple[str, float]] = {
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
AARSLEV_WEATHER: dict[str, str] = {
    "udetemperatur": "outside_temp_c",  # outside temperature, °C
    "solindstråling": "outside_radiation_w_m2",  # solar radiation, W/m²
}
AARSLEV_LOCATION = "aarslev"

# --- Aarslev weather station: JSON and CSV (winter2014.csv) ---------------------------
# The same signals and times as the cell export's outside columns: its own location, so that
# neither file's rows are dropped as "already present" because of the other.
AARSLEV_STATION_LOCATION = "aarslev-station"  # the JSON series, 10 min
# winter2014.csv: hourly actuals that differ from the JSON's readings at the same full hours
# (by up to about 1 °C and 150 W/m²), so they get a location of their own as well.
AARSLEV_HOURLY_LOCATION = "aarslev-hourly"
AARSLEV_WEATHER_CSV: dict[str, str] = {
    "actual_temperature": "outside_temp_c",  # measured, °C
    "actual_radiation": "outside_radiation_w_m2",  # measured, W/m²
    "temperature": "forecast_temp_c",  # hourly forecast, °C
    "sun_radiation": "forecast_radiation_w_m2",  # hourly forecast, W/m²
}

# --- Open-Meteo archive (hourly) ------------------------------------------------------
# variable -> (signal, {unit as Open-Meteo writes it: factor to the signal's unit}).
# Open-Meteo's default wind unit is km/h; the canonical signal is m/s.
OPENMETEO: dict[str, tuple[str, dict[str, float | None]]] = {
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
OPENMETEO_ALIASES: dict[str, str] = {  # older API spellings
    "windspeed_10m": "wind_speed_10m",
    "cloudcover": "cloud_cover",
    "relativehumidity_2m": "relative_humidity_2m",
}

# --- Energi Data Service Elspotprices -------------------------------------------------
ELSPOT_SIGNALS = ("price_dkk_mwh", "price_eur_mwh")  # SpotPriceDKK, SpotPriceEUR per MWh

# Canonical site / weather location / price area of each site.
SITE_LOCATION_PREFIXES = {"knudjepsen-": KNUDJEPSEN_LOCATION, "aarslev-": AARSLEV_LOCATION}
DEFAULT_PRICE_AREA = "DK1"

_UNIT_SUFFIX = {"°c": "c", "%": "percent", "ppm": "ppm", "w/m²": "w_m2", "g/m3": "g_m3"}
_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})


def normalise(name: str) -> str:
    """Lower case, single spaces, no surrounding blanks: the key into the tables above."""
    return " ".join(name.split()).lower()


def derived_name(name: str, unit: str = "") -> str:
    """A signal name for a column the tables do not know.

    ``mål temp afd Top`` with unit ``°C`` -> ``maal_temp_afd_top_c``.
    """
    text = unicodedata.normalize("NFKD", name.translate(_FOLD)).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "_", text.decode().lower()).strip("_")
    suffix = _UNIT_SUFFIX.get(normalise(unit), "")
    if suffix and not slug.endswith(suffix):
        slug = f"{slug}_{suffix}"
    return slug or "unnamed"


def site_location(site: str) -> str:
    """The weather location of a site (``knudjepsen-afd3`` -> ``knudjepsen``)."""
    for prefix, location in SITE_LOCATION_PREFIXES.items():
        if site.startswith(prefix):
            return location
    return site.split("-", 1)[0]


def knudjepsen_target(measurement: str, obj: str, unit: str, column: int) -> Target:
    """Where a KnudJepsen column goes, from its three header rows."""
    key = normalise(measurement)
    if "VEJRSTATION" in obj.upper():
        signal = KNUDJEPSEN_WEATHER.get(key)
        if signal:
            return Target(WEATHER, KNUDJEPSEN_LOCATION, signal)
        return Target(WEATHER, KNUDJEPSEN_LOCATION, derived_name(measurement, unit), known=False)
    compartment = re.search(r"(?:AFD|BEL\.?\s*SYSTEM)\s*(\d+)", obj, re.IGNORECASE)
    site = f"knudjepsen-afd{compartment[1]}" if compartment else "knudjepsen"
    template = KNUDJEPSEN_CLIMATE.get(key)
    if template and "{n}" in template:
        number = re.search(r"LAMPGRP\s*(\d+)", obj, re.IGNORECASE)
        template = template.format(n=number[1]) if number else None
    if template and compartment:
        return Target(READINGS, site, template)
    return Target(READINGS, site, derived_name(measurement or f"col{column}", unit), known=False)


def aarslev_target(header: str, column: int) -> Target:
    """Where an Aarslev cell column (``"Celle 5: Lufttemperatur"``) goes."""
    prefix, _, name = header.partition(":")
    cell = re.search(r"celle\s*(\d+)", prefix, re.IGNORECASE)
    site = f"aarslev-celle{cell[1]}" if cell else f"aarslev-{derived_name(prefix)}"
    key = normalise(name)
    if key in AARSLEV_WEATHER:
        return Target(WEATHER, AARSLEV_LOCATION, AARSLEV_WEATHER[key])
    if key in AARSLEV_CLIMATE:
        signal, scale = AARSLEV_CLIMATE[key]
        return Target(READINGS, site, signal, scale)
    signal = derived_name(name) if key else f"unnamed_col{column}"
    return Target(READINGS, site, signal, known=False)
