"""What every format shares about signals: the target tables and how a column names one.

Canonical names carry their unit (``air_temp_c``, ``co2_ppm``, ``rh_percent``). A column
lands either in ``readings`` (a greenhouse compartment's climate, keyed by site), in
``weather`` (outside weather, keyed by location) or in ``spot_prices``. Each format module
maps its own column names to canonical signals; a column its table does not know is still
loaded, under a name derived from its header (:func:`derived_name`), and reported as
unknown: nothing is dropped silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

READINGS = "readings"
WEATHER = "weather"
SPOT_PRICES = "spot_prices"
DEFAULT_PRICE_AREA = "DK1"


@dataclass(frozen=True)
class Target:
    """Where one column's cells go: table, site or location, signal, and a unit scale.

    ``location`` is, for a readings column, the weather location of its site: a site
    new to the database is created with it (an existing site keeps its own).
    """

    table: str
    key: str
    signal: str
    scale: float = 1.0
    known: bool = True
    location: str | None = None


_UNIT_SUFFIX = {"°c": "c", "%": "percent", "ppm": "ppm", "w/m²": "w_m2", "g/m3": "g_m3"}
_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})


def normalise(name: str) -> str:
    """Lower case, single spaces, no surrounding blanks: the key into the formats' tables."""
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
