"""Provenance: each loaded file is a row of ``sources`` (name, sha256, size, format, what
its load did), and every value it set carries its id."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import psycopg

from greenhouse_queue.queries import query

from .rejections import SignalTally

_CHUNK = 1 << 20


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of the file's bytes."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def same_file(conn: psycopg.Connection, sha256: str) -> tuple[int, str, datetime] | None:
    """(id, name, loaded_at) of an earlier load of a byte-identical file, if any."""
    row = conn.execute(query("load", "same_file"), {"sha256": sha256}).fetchone()
    return (int(row[0]), row[1], row[2]) if row else None


def open_source(
    conn: psycopg.Connection, path: Path, sha256: str, size: int, fmt: str, *, replace: bool
) -> int:
    """A new ``sources`` row for the file being loaded; returns its id."""
    params = {"name": path.name, "sha256": sha256, "size": size, "format": fmt}
    row = conn.execute(query("load", "open_source"), {**params, "replace": replace}).fetchone()
    return int(row[0])


def close_source(
    conn: psycopg.Connection,
    source: int,
    *,
    counts: dict[str, int],
    span: tuple[datetime | None, datetime | None],
    tallies: list[SignalTally],
) -> None:
    """What the load did (``counts``: rows, added, changed, conflicts) and, per signal, the
    values and rejections (``source_signals``)."""
    conn.execute(
        query("load", "close_source"),
        {"id": source, **counts, "time_first": span[0], "time_last": span[1]},
    )
    if tallies:
        conn.execute(
            query("load", "insert_source_signals"),
            {
                "id": source,
                "tbls": [t.table for t in tallies],
                "keys": [t.key for t in tallies],
                "signals": [t.signal for t in tallies],
                "rows": [t.rows for t in tallies],
                "rejected": [t.rejected for t in tallies],
            },
        )
