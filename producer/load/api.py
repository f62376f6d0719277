"""The loader's entry points: :func:`load_files` (database) and :func:`read_file` (pure)."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg

from greenhouse_queue import progress

from .blocks import Block, Context
from .errors import LoadError
from .formats import detect_format, format_named
from .prefetch import prefetch
from .rejections import LimitTally
from .report import FileReport
from .signals import READINGS, SPOT_PRICES, WEATHER
from .sources import close_source, file_digest, open_source, same_file
from .store import SourceWriter
from .timezones import parse_tz

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
            name = format_named(fmt).NAME
        except ValueError as err:
            raise LoadError(path, str(err)) from None
    return Context(path, name, tz=tz, skip_bad_rows=skip_bad_rows, location=location)


def _blocks(ctx: Context) -> Iterator[Block]:
    try:
        yield from format_named(ctx.fmt).parse(ctx)
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
    replace: bool = False,
) -> list[FileReport]:
    """Load ``paths`` into ``readings``, ``weather``, ``spot_prices`` (and ``sites``).

    Each file is detected from its content (``fmt`` forces one of :data:`FORMATS`), parsed
    in bounded memory and stored with COPY, in one transaction per file: a refused file
    leaves nothing behind. Each file becomes a row of ``sources``; a file byte-identical
    to one loaded before is not read again. A value that disagrees with a stored value of
    another file is a conflict: counted, kept in ``conflicts``, and settled by the rule
    of docs/loading.md, whatever the order of the files. ``replace`` makes the file's
    values overwrite the stored ones instead. ``tz`` overrides every format's default
    zone; ``location`` names the weather location of files that have none (Open-Meteo;
    default ``open-meteo``).

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
            reports.append(_load_one(conn, path, fmt, skip_bad_rows, tz, location, replace))
        except LoadError as err:
            err.reports = reports
            raise
    return reports


def _load_one(conn, path, fmt, skip_bad_rows, tz, location, replace) -> FileReport:
    started = clock.perf_counter()
    ctx = _context(path, fmt, tz, skip_bad_rows, location)
    sha256, size = file_digest(path)
    report = FileReport(path=path, format=ctx.fmt, sha256=sha256, replace=replace)
    with conn.transaction():
        report.identical_to = None if replace else same_file(conn, sha256)
        if report.identical_to is None:
            report.source = open_source(conn, path, sha256, size, ctx.fmt, replace=replace)
            _store(conn, ctx, report)
    report.seconds = clock.perf_counter() - started
    return report


def _store(conn: psycopg.Connection, ctx: Context, report: FileReport) -> None:
    """Streams the file's blocks in as source ``report.source``, settles its conflicts and
    records what it did, in the report and in ``sources``."""
    keys: dict[str, set[str]] = {READINGS: set(), WEATHER: set(), SPOT_PRICES: set()}
    signals: set[str] = set()
    tally = LimitTally()
    writer = SourceWriter(conn, report.source, replace=report.replace)
    with progress.bar(f"load {ctx.path.name}", _rows_estimate(ctx.path)) as bar:
        for block in prefetch(_blocks(ctx)):
            bar.update(len(block))
            new = writer.write(block)
            report.rows_loaded += new
            report.rows_already_present += block.cells() - new
            keys[block.table].update(block.keys)
            signals.update(block.signals)
            tally.add(block)
            first, last = min(block.times), max(block.times)
            if report.time_first is None or first < report.time_first:
                report.time_first = first
            if report.time_last is None or last > report.time_last:
                report.time_last = last
    settled = writer.finish()
    report.rows_changed, report.changes = settled.changed, settled.by_signal
    report.mostly_rejected = [t for t in tally.tallies() if t.mostly_rejected]
    report.sites = sorted(keys[READINGS])
    report.locations = sorted(keys[WEATHER])
    report.price_areas = sorted(keys[SPOT_PRICES])
    report.signals = sorted(signals)
    report.unknown_columns = ctx.unknown_columns
    report.bad_rows = ctx.bad_rows
    counts = {
        "rows": report.rows_read,
        "added": report.rows_loaded,
        "changed": report.rows_changed,
        "conflicts": report.conflicts,
    }
    span = (report.time_first, report.time_last)
    close_source(conn, report.source, counts=counts, span=span, tallies=tally.tallies())


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
