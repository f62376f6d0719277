"""Which format a file is in, from its content (never its name)."""

from __future__ import annotations

from pathlib import Path

from .csvrows import peek
from .errors import LoadError

FORMATS = ("knudjepsen", "aarslev-cell", "aarslev-weather", "elspot", "open-meteo")


def normalise_format(name: str) -> str:
    """``aarslev_cell`` / ``Aarslev-Cell`` -> ``aarslev-cell``; ValueError if unknown."""
    key = name.strip().lower().replace("_", "-")
    aliases = {"openmeteo": "open-meteo", "elspotprices": "elspot"}
    key = aliases.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")
    return key


def detect_format(path: Path) -> str:
    """The format name of ``path`` from its first kilobytes; LoadError if none fits."""
    try:
        head = peek(path)
    except OSError as err:
        raise LoadError(path, f"cannot read the file: {err.strerror or err}") from None
    text = head.lstrip()
    if not text:
        raise LoadError(path, "the file is empty", hint="nothing to load")
    first = text.splitlines()[0]
    lowered = first.lower()
    if text[0] in "[{":
        if '"Readings"' in text and '"uuid"' in text:
            return "aarslev-weather"
        if '"hourly"' in text or '"utc_offset_seconds"' in text:
            return "open-meteo"
        if "HourUTC" in text or "SpotPrice" in text:
            return "elspot"
    elif "HourUTC" in first and "SpotPrice" in first:
        return "elspot"
    elif "utc_offset_seconds" in lowered or (
        lowered.startswith("time") and "temperature_2m" in lowered
    ):
        return "open-meteo"
    elif "NORRING" in text or ("mål" in lowered and "NORRING" in head):
        return "knudjepsen"
    elif lowered.startswith("date") and "celle" in lowered:
        return "aarslev-cell"
    elif lowered.startswith("timestamp") and "radiation" in lowered:
        return "aarslev-weather"
    raise LoadError(
        path,
        f"unknown format: the content matches none of {', '.join(FORMATS)} "
        f"(first line: {first[:80]!r})",
        line=1,
        hint="pass --format to force one",
    )
