"""Writes the stage outputs of the jobs that passed the fencing check.

Called by common.queue.complete inside the transaction that marks the jobs done:
COPY (binary) into temporary tables, then one upsert per table.
"""

from __future__ import annotations

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
    _copy(conn, "copy_features", FEATURE_TYPES, _feature_rows(mine))
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


def _feature_rows(results: Sequence[JobResult]) -> Iterable[tuple]:
    for result in results:
        rows = result.features
        starts = rows.window_start.astype("datetime64[us]").astype(object)
        ends = rows.window_end.astype("datetime64[us]").astype(object)
        values = rows.value.tolist()
        job_id = result.job.id
        for i in range(len(values)):
            value = values[i]
            yield (
                job_id,
                rows.site[i],
                _utc(starts[i]),
                _utc(ends[i]),
                rows.signal[i],
                rows.feature[i],
                None if value != value else value,  # NaN -> NULL
            )


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
