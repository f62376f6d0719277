"""The loader's entry points: :func:`load_files` (database) and :func:`read_file` (pure)."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import psycopg

from greenhouse_queue import progress

from . import aarslev_cell, aarslev_weather, elspot, knudjepsen, openmeteo
from .detect import detect_format, normalise_format
from .errors import LoadError
from .prefetch import prefetch
from .records import Block, Context
from .report import FileReport
from .signals import READINGS, SPOT_PRICES, WEATHER
from .store import store_blocks
from .timezones import parse_tz

PARSERS: dict[str, ModuleType] = {
    m.NAME: m for m in (knudjepsen, aarslev_cell, aarslev_weather, elspot, openmeteo)
}
KEY_COLUMN = {READINGS: "site", WEATHER: "location", SPOT_PRICES: "price_area"}


def _context(
    path: Path,
    fmt: str | None,
    tz: str | None,
    skip_bad_rows: bool,
    location: str | None,
) -> Context:
    if not path.exists():
        raise LoadError(path, "file not found", hint="check the path")
    if not path.is_file():
        raise LoadError(path, "not a regular file", hint="pass files, not directories")
    if tz is not None:
        try:
            parse_tz(tz)
        except ValueError as err:
            raise LoadError(path, str(err)) from None
    if fmt is None:
        name = detect_format(path)
    else:
        try:
            name = normalise_format(fmt)
        except ValueError as err:
            raise LoadError(path, str(err)) from None
    return Context(path, name, tz=tz, skip_bad_rows=skip_bad_rows, location=location)


def _blocks(ctx: Context) -> Iterator[Block]:
    try:
        yield from PARSERS[ctx.fmt].parse(ctx)
    except UnicodeDecodeError as err:
        raise LoadError(ctx.path, f"not text in the expected encoding: {err}") from None


def load_files(
    conn: psycopg.Connection,
    paths: list[Path],
    *,
    fmt: str | None = None,
    skip_bad_rows: bool = False,
    tz: str | None = None,
    location: str | None = None,
) -> list[FileReport]:
    """Load ``paths`` into ``readings``, ``weather``, ``spot_prices`` (and ``sites``).

    Each file is detected from its content (``fmt`` forces one of :data:`FORMATS`), parsed
    in bounded memory and stored with COPY plus ``INSERT ... ON CONFLICT DO NOTHING``, in
    one transaction per file: a refused file leaves nothing behind, and re-loading a file
    adds nothing. ``tz`` overrides every format's default zone; ``location`` names the
    weather location of files that have none (Open-Meteo; default ``open-meteo``).

    Raises :class:`LoadError` (file, line, reason, what to do) on the first bad file; files
    before it stay committed and their reports are in ``error.reports``. All paths are
    checked to exist before anything is loaded. If the connection is already inside a
    transaction, each file is a savepoint in it and the caller commits.
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise LoadError(path, "file not found", hint="check the path; nothing was loaded")
    reports: list[FileReport] = []
    for path in paths:
        try:
            reports.append(_load_one(conn, path, fmt, skip_bad_rows, tz, location))
        except LoadError as err:
            err.reports = reports
            raise
    return reports


def _load_one(conn, path, fmt, skip_bad_rows, tz, location) -> FileReport:
    started = clock.perf_counter()
    ctx = _context(path, fmt, tz, skip_bad_rows, location)
    report = FileReport(path=path, format=ctx.fmt)
    keys: dict[str, set[str]] = {READINGS: set(), WEATHER: set(), SPOT_PRICES: set()}
    signals: set[str] = set()
    with conn.transaction(), progress.bar(f"load {path.name}", _rows_estimate(path)) as bar:
        for block, new in store_blocks(conn, prefetch(_blocks(ctx))):
            bar.update(len(block))
            cells = block.cells()
            report.rows_loaded += new
            report.rows_already_present += cells - new
            keys[block.table].update(block.keys)
            signals.update(block.signals)
            first, last = min(block.times), max(block.times)
            if report.time_first is None or first < report.time_first:
                report.time_first = first
            if report.time_last is None or last > report.time_last:
                report.time_last = last
    report.sites = sorted(keys[READINGS])
    report.locations = sorted(keys[WEATHER])
    report.price_areas = sorted(keys[SPOT_PRICES])
    report.signals = sorted(signals)
    report.unknown_columns = ctx.unknown_columns
    report.bad_rows = ctx.bad_rows
    report.seconds = clock.perf_counter() - started
    return report


def _rows_estimate(path: Path) -> int | None:
    """Lines in the file: about one row per line in every text export (None for JSON,
    whose lines say nothing, and when no bar is drawn)."""
    if not progress.enabled():
        return None
    with path.open("rb") as raw:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))
    return lines if lines > 1 else None


def read_file(
    path: Path | str,
    fmt: str | None = None,
    tz: str | None = None,
    skip_bad_rows: bool = False,
    location: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Parse one file, without a database, into narrow DataFrames, one per target table.

    Returns ``{"readings": ..., "weather": ..., "spot_prices": ...}`` (all three keys are
    always present; a table the file has no rows for is an empty frame). Columns:

    * ``readings``: ``site``, ``time``, ``signal``, ``value``
    * ``weather``: ``location``, ``time``, ``signal``, ``value``
    * ``spot_prices``: ``price_area``, ``time``, ``signal`` (``price_dkk_mwh`` or
      ``price_eur_mwh``), ``value``

    ``time`` is ``datetime64[us, UTC]``; ``value`` is float64 in the signal's unit. Empty
    cells produce no row. Rows appear in file order. Each frame's ``attrs`` carries
    ``format``, ``unknown_columns`` and ``bad_rows`` (with ``skip_bad_rows``). Raises
    :class:`LoadError` like :func:`load_files`. The arguments mean what they mean there.
    """
    ctx = _context(Path(path), fmt, tz, skip_bad_rows, location)
    parts: dict[str, list[pd.DataFrame]] = {t: [] for t in KEY_COLUMN}
    for block in _blocks(ctx):
        parts[block.table].append(_narrow(block))
    result = {}
    for table, frames in parts.items():
        key = KEY_COLUMN[table]
        if frames:
            frame = pd.concat(frames, ignore_index=True).rename(columns={"key": key})
        else:
            frame = pd.DataFrame(
                {
                    key: pd.Series(dtype=object),
                    "time": pd.Series(dtype="datetime64[us, UTC]"),
                    "signal": pd.Series(dtype=object),
                    "value": pd.Series(dtype="float64"),
                }
            )
        frame.attrs = {
            "format": ctx.fmt,
            "unknown_columns": list(ctx.unknown_columns),
            "bad_rows": list(ctx.bad_rows),
        }
        result[table] = frame
    return result


def _narrow(block: Block) -> pd.DataFrame:
    wide = pd.DataFrame(block.values, columns=list(block.signals), dtype="float64")
    wide.insert(0, "key", block.keys)
    wide.insert(1, "time", pd.to_datetime(block.times, utc=True).as_unit("us"))
    wide["_order"] = range(len(wide))
    long = wide.melt(id_vars=["key", "time", "_order"], var_name="signal", value_name="value")
    long = long.dropna(subset=["value"])
    long = long.sort_values(["_order", "signal"], kind="stable").drop(columns="_order")
    return long.reset_index(drop=True)
