"""`producer export`: features to Parquet or CSV, long or wide, in bounded memory.

Rows come from a server-side cursor a chunk at a time and are written a chunk at a time,
so memory depends on the chunk size, not on the number of rows. The wide shape has one row
per (site, window) and one column per ``signal__feature`` (tsfresh's ``kind__feature``
naming); the rows arrive ordered by window, so each window is pivoted whole, and the one
window a chunk boundary splits is carried over to the next chunk.

The file appears only when it is complete: it is written next to its destination under a
temporary name and renamed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import psycopg

from greenhouse_queue import progress
from greenhouse_queue.cli import UsageError
from greenhouse_queue.files import replacing
from greenhouse_queue.queries import query

KEY = ["site", "window_start", "window_end"]
LONG_COLUMNS = [*KEY, "signal", "feature", "value"]
SEPARATOR = "__"  # tsfresh joins kind and feature with two underscores
CHUNK_ROWS = 100_000
FORMATS = ("parquet", "csv")
PARQUET_HINT = "Parquet export needs pyarrow: pip install 'greenhouse-queue[parquet]'"


@dataclass(frozen=True)
class Selection:
    """Which rows to export; None selects everything."""

    first: date | None = None  # UTC days, both inclusive, by window_start
    last: date | None = None
    sites: list[str] | None = None
    signals: list[str] | None = None
    features: list[str] | None = None

    def params(self) -> dict[str, Any]:
        day = time(0, tzinfo=UTC)
        return {
            "start": datetime.combine(self.first, day) if self.first else None,
            "end": datetime.combine(self.last + timedelta(days=1), day) if self.last else None,
            "sites": self.sites,
            "signals": self.signals,
            "features": self.features,
        }


@dataclass(frozen=True)
class Summary:
    rows: int
    columns: int
    path: Path


class Sink(Protocol):
    def write(self, frame: pd.DataFrame) -> None: ...
    def close(self) -> None: ...


def format_of(path: Path, explicit: str | None) -> str:
    """``--format``, else the file's suffix (.parquet or .csv)."""
    if explicit:
        return explicit
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise UsageError(
        f"--out {path}: cannot tell the format from the suffix {path.suffix!r}; "
        "name the file .parquet or .csv, or pass --format parquet|csv"
    )


def export(
    conn: psycopg.Connection,
    path: Path,
    *,
    fmt: str,
    wide: bool,
    selection: Selection,
    chunk_rows: int = CHUNK_ROWS,
) -> Summary:
    """Writes the selected features to ``path``; returns how many rows and columns."""
    params = selection.params()
    with conn.transaction():
        conn.execute(query("export", "utc_timestamps"))
        pairs = conn.execute(query("export", "feature_columns"), params).fetchall()
        total = sum(rows for _, _, rows in pairs)
        wide_columns = [f"{signal}{SEPARATOR}{feature}" for signal, feature, _ in pairs]
        columns = [*KEY, *wide_columns] if wide else LONG_COLUMNS
        written = 0
        with replacing(path) as partial, progress.bar(f"export {path.name}", total) as bar:
            sink = _sink(fmt, partial, columns)
            try:
                for chunk in _chunks(conn, params, chunk_rows):
                    bar.update(len(chunk))
                    frame = _pivot(chunk, wide_columns) if wide else chunk
                    sink.write(frame)
                    written += len(frame)
            finally:
                sink.close()
    return Summary(rows=written, columns=len(columns), path=path)


def _chunks(
    conn: psycopg.Connection, params: dict[str, Any], chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Long rows, a chunk at a time, each ending on a whole (site, window)."""
    carried: pd.DataFrame | None = None
    with conn.cursor(name="export_features", binary=True) as cursor:
        cursor.itersize = chunk_rows
        cursor.execute(query("export", "feature_rows"), params)
        while rows := cursor.fetchmany(chunk_rows):
            frame = _frame(rows)
            if carried is not None:
                frame = pd.concat([carried, frame], ignore_index=True)
            last = frame.iloc[-1]
            tail = (
                (frame["site"] == last["site"])
                & (frame["window_start"] == last["window_start"])
                & (frame["window_end"] == last["window_end"])
            )
            carried = frame[tail]
            if (~tail).any():
                yield frame[~tail]
        if carried is not None and len(carried):
            yield carried


def _frame(rows: list[tuple]) -> pd.DataFrame:
    site, start, end, signal, feature, value = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "site": site,
            "window_start": pd.to_datetime(start, utc=True).astype("datetime64[us, UTC]"),
            "window_end": pd.to_datetime(end, utc=True).astype("datetime64[us, UTC]"),
            "signal": signal,
            "feature": feature,
            "value": pd.array(value, dtype="float64"),
        }
    )


def _pivot(chunk: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """One row per (site, window) of ``chunk``, every column of ``columns`` present."""
    names = chunk["signal"] + SEPARATOR + chunk["feature"]
    wide = (
        chunk.assign(column=names)
        .set_index([*KEY, "column"])["value"]
        .unstack("column", sort=False)
        .reindex(columns=columns)
        .reset_index()
    )
    wide.columns.name = None
    return wide


def _sink(fmt: str, path: Path, columns: list[str]) -> Sink:
    if fmt == "parquet":
        return _ParquetSink(path, columns)
    return _CsvSink(path)


class _CsvSink:
    def __init__(self, path: Path) -> None:
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.header = True

    def write(self, frame: pd.DataFrame) -> None:
        frame.to_csv(self.handle, header=self.header, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        self.header = False

    def close(self) -> None:
        self.handle.close()


class _ParquetSink:
    def __init__(self, path: Path, columns: list[str]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise UsageError(PARQUET_HINT) from None
        self.pa = pa
        timestamp = pa.timestamp("us", tz="UTC")
        types = {"site": pa.string(), "window_start": timestamp, "window_end": timestamp}
        types |= {"signal": pa.string(), "feature": pa.string()}
        self.schema = pa.schema([(name, types.get(name, pa.float64())) for name in columns])
        self.writer = pq.ParquetWriter(path, self.schema, compression="zstd")

    def write(self, frame: pd.DataFrame) -> None:
        table = self.pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
