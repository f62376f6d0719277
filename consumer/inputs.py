"""What the stages read: one time span of bucketed readings, weather, prices and sites.

The only consumer module that reads stage inputs from the database. Readings and
weather are bucketed in SQL (sum and count per series and bucket, limits applied per
raw sample first, rejections counted), which moves about 1/12 of the rows for 5-minute
data on an hourly grid. The same statement reports each bucket's spacing (samples and
time width) over whole UTC days, from which `native_intervals` takes each series-day's
sample interval for coverage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from greenhouse_queue.consumer.stages.raw import Buckets, Prices, StageInputs
from greenhouse_queue.consumer.stages.times import as_utc, epoch_seconds, to_datetime
from greenhouse_queue.limits import LIMITS, Limit, like_pattern
from greenhouse_queue.queries import query

__all__ = ["DEFAULT_PRICE_AREA", "native_intervals", "read_inputs", "read_range"]

DEFAULT_PRICE_AREA = "DK1"
DAY_S = 86400


def _limit_params(limits: Sequence[Limit]) -> dict[str, list]:
    exact = [r for r in limits if not r.is_pattern]
    patterns = [r for r in limits if r.is_pattern]
    return {
        "exact_names": [r.signal for r in exact],
        "exact_low": [r.low for r in exact],
        "exact_high": [r.high for r in exact],
        "pattern_likes": [like_pattern(r) for r in patterns],
        "pattern_low": [r.low for r in patterns],
        "pattern_high": [r.high for r in patterns],
    }


def read_range(span_start: datetime, span_end: datetime, resolution: timedelta) -> dict:
    """What the bucket statements read for [span_start, span_end), as query parameters.

    Whole UTC days around the span (the end stretched to the next bucket boundary, so
    the buckets that start on the last day are whole), and an `origin` on the span's
    bucket lattice at or before the first day, so no sample lies before it.
    """
    start_s, end_s = epoch_seconds(span_start), epoch_seconds(span_end)
    step_s = int(resolution.total_seconds())
    first_day = start_s // DAY_S * DAY_S
    stop_day = -(-end_s // DAY_S) * DAY_S
    origin = start_s - -(-(start_s - first_day) // step_s) * step_s
    read_end = start_s + -(-(stop_day - start_s) // step_s) * step_s
    return {
        "read_start": to_datetime(first_day),
        "read_end": to_datetime(read_end),
        "origin": to_datetime(origin),
    }


def native_intervals(
    key: np.ndarray,
    signal: np.ndarray,
    bucket_s: np.ndarray,
    n_all: np.ndarray,
    width_s: np.ndarray,
    first_s: int,
) -> dict[tuple[str, str, int], float]:
    """Each series' native sample interval per UTC day, from its buckets that start that day.

    A bucket of n >= 2 samples spaced over width_s seconds has spacing width_s / (n - 1),
    exactly the sample interval when the bucket has no gap inside. The day's interval is
    the median spacing (percentile_disc(0.5): the lower middle) of its buckets; a day
    without such a bucket has none. Buckets starting before `first_s` (the first day's
    midnight) were read only in part and are left out.
    """
    use = (n_all >= 2) & (bucket_s >= first_s)
    spacing = width_s[use] / (n_all[use] - 1)
    positive = spacing > 0
    spacing = spacing[positive]
    if not len(spacing):
        return {}
    day = bucket_s[use][positive] // DAY_S
    key_code, keys = pd.factorize(key[use][positive])
    signal_code, signals = pd.factorize(signal[use][positive])
    order = np.lexsort((spacing, day, signal_code, key_code))
    group = np.stack([key_code[order], signal_code[order], day[order]])
    first = np.flatnonzero(np.r_[True, (group[:, 1:] != group[:, :-1]).any(axis=0)])
    size = np.diff(np.r_[first, len(order)])
    middle = order[first + (size + 1) // 2 - 1]
    return {
        (keys[key_code[m]], signals[signal_code[m]], int(day[m])): float(spacing[m])
        for m in middle.tolist()
    }


def _buckets(conn: psycopg.Connection, name: str, params: dict) -> Buckets:
    with conn.cursor() as cur:
        rows = cur.execute(query("inputs", name), params).fetchall()
    if not rows:
        return Buckets.empty()
    key, signal, bucket, total, count, rejected, n_all, width = zip(*rows, strict=True)
    key, signal = np.array(key, dtype=object), np.array(signal, dtype=object)
    bucket_s = np.array(bucket, dtype=np.int64)
    count = np.array(count, dtype=np.int64)
    rejected = np.array(rejected, dtype=np.int64)
    interval = native_intervals(
        key,
        signal,
        bucket_s,
        np.array(n_all, dtype=np.int64),
        np.array(width, dtype=np.float64),
        epoch_seconds(params["read_start"]),
    )
    mine = (count > 0) | (rejected > 0)  # the span's buckets; the others only told their spacing
    if not mine.any():
        return Buckets.empty()
    return Buckets(
        key[mine],
        signal[mine],
        bucket_s[mine].astype("datetime64[s]"),
        np.array(total, dtype=np.float64)[mine],  # None (no in-limit sample) -> NaN
        count[mine],
        rejected[mine],
        interval,
    )


def read_inputs(
    conn: psycopg.Connection,
    span_start: datetime,
    span_end: datetime,
    resolution: timedelta,
    *,
    limits: Sequence[Limit] = LIMITS,
) -> StageInputs:
    """Everything stages 1-4 need for [span_start, span_end), bucketed by `resolution`.

    Buckets are aligned to span_start. Runs a handful of read-only statements; call it
    inside one transaction (REPEATABLE READ if loaders write concurrently).
    """
    span_start, span_end = as_utc(span_start), as_utc(span_end)
    params = {
        "start": span_start,
        "end": span_end,
        "step": resolution,
        **read_range(span_start, span_end, resolution),
        **_limit_params(limits),
    }
    readings = _buckets(conn, "reading_buckets", params)
    weather = _buckets(conn, "weather_buckets", params)
    with conn.cursor() as cur:
        sites = cur.execute(query("inputs", "sites")).fetchall()
        price_rows = cur.execute(query("inputs", "spot_prices"), params).fetchall()
    if price_rows:
        area, hour, eur = zip(*price_rows, strict=True)
        prices = Prices(
            np.array(area, dtype=object),
            np.array(hour, dtype=np.int64).astype("datetime64[s]"),
            np.array(eur, dtype=np.float64),
        )
    else:
        prices = Prices.empty()
    return StageInputs(
        span_start,
        span_end,
        resolution,
        readings,
        weather,
        prices,
        location={site: location for site, location, _ in sites},
        price_area={site: area or DEFAULT_PRICE_AREA for site, _, area in sites},
    )
