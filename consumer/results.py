"""Writes the stage outputs of the jobs that passed the fencing check.

Called by greenhouse_queue.queue.complete inside the transaction that marks the jobs done:
COPY (binary) into temporary tables, then one upsert per table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import psycopg

from greenhouse_queue.consumer import copy_binary
from greenhouse_queue.consumer.pipeline import JobResult
from greenhouse_queue.consumer.stages.features import FeatureRows
from greenhouse_queue.consumer.stages.times import to_datetime, utc_seconds
from greenhouse_queue.queries import query

FEATURE_TYPES = ["int8", "text", "timestamptz", "timestamptz", "text", "text", "float8"]
CHANGEPOINT_TYPES = ["int8", "text", "timestamptz", "float8", "text[]"]


def write(conn: psycopg.Connection, results: Sequence[JobResult], owned: set[int]) -> None:
    mine = [result for result in results if result.job.id in owned]
    conn.execute(query("results", "create_staging"))
    owned_windows = _owned_windows(mine)
    _copy_stream(conn, "copy_features", _feature_copy_data(mine))
    conn.execute(query("results", "delete_stale_features"), owned_windows)
    conn.execute(query("results", "upsert_features"))
    _copy_stream(conn, "copy_resampled", _resampled_copy_data(mine))
    conn.execute(query("results", "delete_stale_resampled"), _traced_ranges(mine))
    conn.execute(query("results", "upsert_resampled"))
    _copy(conn, "copy_changepoints", CHANGEPOINT_TYPES, _changepoint_rows(mine))
    conn.execute(query("results", "delete_changepoints"), {"ids": sorted(owned)})
    conn.execute(query("results", "insert_changepoints"))


def _owned_windows(results: Sequence[JobResult]) -> dict[str, object]:
    """Parameters that let the stale-row deletes range-scan their indexes: the sites, the
    signals, the span of the owned windows, and the windows themselves."""
    jobs = [result.job for result in results]
    return {
        "sites": sorted({site for result in results for site in result.grid.sites}),
        "signals": sorted({signal for result in results for signal in result.grid.signals}),
        "first": min(job.window_start for job in jobs),
        "last": max(job.window_end for job in jobs),
        "starts": [job.window_start for job in jobs],
        "ends": [job.window_end for job in jobs],
    }


def _traced_ranges(results: Sequence[JobResult]) -> dict[str, object]:
    """As _owned_windows, for the resampled rows: each job writes the grid its feature
    windows read, which reaches past its window by a window width less a step."""
    starts = [to_datetime(result.traced[0]) for result in results]
    ends = [to_datetime(result.traced[1]) for result in results]
    return {
        "sites": sorted({site for result in results for site in result.grid.sites}),
        "signals": sorted({signal for result in results for signal in result.grid.signals}),
        "first": min(starts),
        "last": max(ends),
        "starts": starts,
        "ends": ends,
    }


def _copy_stream(conn: psycopg.Connection, name: str, chunks: Iterable[bytes]) -> None:
    with conn.cursor() as cursor, cursor.copy(query("results", name)) as copy:
        for chunk in chunks:
            copy.write(chunk)


def _copy(conn: psycopg.Connection, name: str, types: list[str], rows: Iterable[tuple]) -> None:
    with conn.cursor() as cursor, cursor.copy(query("results", name)) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _feature_copy_data(results: Sequence[JobResult]) -> Iterable[bytes]:
    """The binary COPY stream of the features rows (as copy_features lists them): one
    block per site, signal, feature and NULL-ness across the batch's jobs."""
    yield copy_binary.HEADER
    written = [result for result in results if len(result.features)]
    if written:
        rows = FeatureRows.concat([result.features for result in written])
        job_ids = np.concatenate(
            [np.full(len(result.features), result.job.id, dtype=np.int64) for result in written]
        )
        starts = copy_binary.timestamptz(rows.window_start)
        ends = copy_binary.timestamptz(rows.window_end)
        empty = np.isnan(rows.value)
        for block, (site, signal, feature, null) in _blocks(rows, empty):
            yield copy_binary.uniform_rows(
                len(block),
                [
                    ("int8", job_ids[block]),
                    ("text", site),
                    ("timestamptz", starts[block]),
                    ("timestamptz", ends[block]),
                    ("text", signal),
                    ("text", feature),
                    ("float8", None if null else rows.value[block]),
                ],
            )
    yield copy_binary.TRAILER


def _blocks(
    rows: FeatureRows, empty: np.ndarray
) -> Iterable[tuple[np.ndarray, tuple[str, str, str, bool]]]:
    """Row indices of each (site, signal, feature, NULL-ness) group."""
    # pandas' hash-based factorize: np.unique would sort the strings, ten times slower.
    key = np.zeros(len(rows), dtype=np.int64)
    for column in (rows.site, rows.signal, rows.feature):
        codes, labels = pd.factorize(column)
        key = key * len(labels) + codes
    key = key * 2 + empty
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for block in np.split(order, bounds):
        first = block[0]
        yield (
            block,
            (
                str(rows.site[first]),
                str(rows.signal[first]),
                str(rows.feature[first]),
                bool(empty[first]),
            ),
        )


def _resampled_copy_data(results: Sequence[JobResult]) -> Iterable[bytes]:
    """The binary COPY stream of the resampled rows (as copy_resampled lists them): one block
    per site, signal and NULL-ness, so every row of a block has the same layout.

    A job writes the grid its feature windows were computed from, weather and prices
    included: every bucket with a value, a raw sample or a rejected one. Buckets with
    none of these are silence, not rows."""
    yield copy_binary.HEADER
    for result, buckets in _traced_buckets(results):
        grid, job = result.grid, result.job
        value = grid.value[:, :, buckets]
        count = grid.count[:, :, buckets]
        rejected = grid.rejected_counts[:, :, buckets]
        keep = ~np.isnan(value) | (count > 0) | (rejected > 0)
        stamps = copy_binary.timestamptz(grid.times[buckets])
        for s, site in enumerate(grid.sites):
            for k, signal in enumerate(grid.signals):
                for empty in (False, True):
                    t = np.flatnonzero(keep[s, k] & (np.isnan(value[s, k]) == empty))
                    if len(t):
                        yield copy_binary.uniform_rows(
                            len(t),
                            [
                                ("int8", job.id),
                                ("text", site),
                                ("timestamptz", stamps[t]),
                                ("text", signal),
                                ("float8", None if empty else value[s, k, t]),
                                ("int4", count[s, k, t]),
                                ("float8", grid.coverage[s, k, buckets[t]]),
                                ("bool", grid.filled[s, k, buckets[t]]),
                                ("int4", rejected[s, k, t]),
                            ],
                        )
    yield copy_binary.TRAILER


def _traced_buckets(results: Sequence[JobResult]) -> Iterable[tuple[JobResult, np.ndarray]]:
    """Each job's grid bucket indices to write, every bucket once per batch: a job's own
    window first, then the reach of its feature windows that no job of the batch wrote."""
    taken: dict[int, np.ndarray] = {}
    spans = []
    for result in results:
        times, job = result.grid.times, result.job
        own = np.searchsorted(times, [utc_seconds(job.window_start), utc_seconds(job.window_end)])
        reach = np.searchsorted(times, list(result.traced))
        mask = taken.setdefault(id(result.grid), np.zeros(len(times), dtype=bool))
        mask[own[0] : own[1]] = True
        spans.append((result, own, reach, mask))
    for result, own, reach, mask in spans:
        tail = np.arange(reach[0], reach[1])
        tail = tail[((tail < own[0]) | (tail >= own[1])) & ~mask[tail]]
        mask[tail] = True
        yield result, np.concatenate([np.arange(own[0], own[1]), tail])


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
