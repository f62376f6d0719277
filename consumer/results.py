"""Writes the stage outputs of the jobs that passed the fencing check.

Called by common.queue.complete inside the transaction that marks the jobs done:
COPY (binary) into temporary tables, then one upsert per table.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import numpy as np
import psycopg

from common.sql import query
from consumer.pipeline import JobResult

FEATURE_TYPES = ["int8", "text", "timestamptz", "timestamptz", "text", "text", "float8"]
RESAMPLED_TYPES = ["int8", "text", "timestamptz", "text", "float8", "int4", "float8", "bool"]
CHANGEPOINT_TYPES = ["int8", "text", "timestamptz", "float8", "text[]"]


def write(conn: psycopg.Connection, results: Sequence[JobResult], owned: set[int]) -> None:
    mine = [result for result in results if result.job.id in owned]
    conn.execute(query("results", "create_staging"))
    with conn.cursor() as cursor, cursor.copy(query("results", "copy_features")) as copy:
        for chunk in _feature_copy_data(mine):
            copy.write(chunk)
    conn.execute(query("results", "upsert_features"))
    _copy(conn, "copy_resampled", RESAMPLED_TYPES, _resampled_rows(mine))
    conn.execute(query("results", "upsert_resampled"))
    _copy(conn, "copy_changepoints", CHANGEPOINT_TYPES, _changepoint_rows(mine))
    conn.execute(query("results", "delete_changepoints"), {"ids": sorted(owned)})
    conn.execute(query("results", "insert_changepoints"))


def _copy(conn: psycopg.Connection, name: str, types: list[str], rows: Iterable[tuple]) -> None:
    with conn.cursor() as cursor, cursor.copy(query("results", name)) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


# Binary COPY, built directly: features are most of what a job writes, and encoding them
# row by row through psycopg's write_row cost more than computing them.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_PG_EPOCH_S = 946_684_800  # 2000-01-01 UTC, where binary timestamptz counts from
_NULL = struct.pack("!i", -1)


def _text_field(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!i", len(data)) + data


def _feature_copy_data(results: Sequence[JobResult]) -> Iterable[bytes]:
    """The binary COPY stream of the features rows (FEATURE_TYPES), one chunk per job."""
    yield _COPY_HEADER
    texts: dict[str, bytes] = {}
    for result in results:
        rows = result.features
        if not len(rows):
            continue
        head = struct.pack("!hiq", 7, 8, result.job.id)
        micros = lambda t: (t.astype("datetime64[s]").astype(np.int64) - _PG_EPOCH_S) * 1_000_000  # noqa: E731
        stamps = np.empty((len(rows), 2), dtype=">i8")
        stamps[:, 0], stamps[:, 1] = micros(rows.window_start), micros(rows.window_end)
        stamp_bytes = stamps.tobytes()
        values = np.asarray(rows.value, dtype=">f8")
        value_bytes = values.tobytes()
        isnan = np.isnan(values).tolist()

        def text(t: str) -> bytes:
            found = texts.get(t)
            if found is None:
                found = texts[t] = _text_field(t)
            return found

        sites = [text(t) for t in rows.site.tolist()]
        signals = [text(t) for t in rows.signal.tolist()]
        features = [text(t) for t in rows.feature.tolist()]
        ts8, f8 = b"\x00\x00\x00\x08", b"\x00\x00\x00\x08"
        parts = []
        for i in range(len(values)):
            o = 16 * i
            parts.append(
                b"".join(
                    (
                        head,
                        sites[i],
                        ts8,
                        stamp_bytes[o : o + 8],
                        ts8,
                        stamp_bytes[o + 8 : o + 16],
                        signals[i],
                        features[i],
                        _NULL if isnan[i] else f8 + value_bytes[8 * i : 8 * i + 8],
                    )
                )
            )
        yield b"".join(parts)
    yield _COPY_TRAILER


def _resampled_rows(results: Sequence[JobResult]) -> Iterable[tuple]:
    for result in results:
        grid = result.grid
        times = grid.times
        lo = np.searchsorted(times, np.datetime64(int(result.job.window_start.timestamp()), "s"))
        hi = np.searchsorted(times, np.datetime64(int(result.job.window_end.timestamp()), "s"))
        value = grid.value[:, :, lo:hi]
        count = grid.count[:, :, lo:hi]
        # Buckets with neither a value nor a raw sample are silence, not rows; joined
        # weather and prices are kept only where the site itself logged something.
        present = ~np.isnan(value) | (count > 0)
        logged = present[:, grid.own_signal_mask].any(axis=1)  # (S, T)
        context = ~grid.own_signal_mask[None, :, None]
        site_i, signal_i, time_i = np.nonzero(present & (logged[:, None, :] | ~context))
        stamps = times[lo:hi].astype("datetime64[us]").astype(object)
        for s, k, t in zip(site_i.tolist(), signal_i.tolist(), time_i.tolist(), strict=True):
            v = float(value[s, k, t])
            yield (
                result.job.id,
                grid.sites[s],
                _utc(stamps[t]),
                grid.signals[k],
                None if v != v else v,
                int(count[s, k, t]),
                float(grid.coverage[s, k, lo + t]),
                bool(grid.filled[s, k, lo + t]),
            )


def _changepoint_rows(results: Sequence[JobResult]) -> Iterable[tuple]:
    for result in results:
        for point in result.eras.changepoints:
            yield (
                result.job.id,
                point.site,
                point.time,
                float(point.cost_gain),
                list(point.signals),
            )


def _utc(moment: datetime) -> datetime:
    """numpy hands back naive datetimes; the grid is UTC."""
    return moment.replace(tzinfo=UTC)
