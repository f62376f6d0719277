"""What the stages read: one time span of bucketed readings, weather, prices and sites.

The only consumer module that reads stage inputs from the database. Readings and
weather are bucketed in SQL (sum and count per series and bucket, limits applied per
raw sample first), which moves about 1/12 of the rows for 5-minute data on an hourly
grid. The same statement reports each bucket's spacing (samples and time width) over
whole UTC days, from which `native_intervals` takes each series-day's sample interval
for coverage. `inputs_from_frames` builds the same `StageInputs` from raw rows in
memory, for tests and for callers without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from greenhouse_queue.consumer.stages.aggregate import (
    Buckets,
    Prices,
    StageInputs,
    grid_signal_of_weather,
)
from greenhouse_queue.consumer.stages.limits import LIMITS, Limit, bounds, like_pattern
from greenhouse_queue.queries import query

__all__ = [
    "Buckets",
    "Prices",
    "StageInputs",
    "inputs_from_frames",
    "native_intervals",
    "read_inputs",
]

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


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _epoch_s(moment: datetime) -> int:
    return int(_utc(moment).timestamp())


def read_range(span_start: datetime, span_end: datetime, resolution: timedelta) -> dict:
    """What the bucket statements read for [span_start, span_end), as query parameters.

    Whole UTC days around the span (the end stretched to the next bucket boundary, so
    the buckets that start on the last day are whole), and an `origin` on the span's
    bucket lattice at or before the first day, so no sample lies before it.
    """
    start_s, end_s = _epoch_s(span_start), _epoch_s(span_end)
    step_s = int(resolution.total_seconds())
    first_day = start_s // DAY_S * DAY_S
    stop_day = -(-end_s // DAY_S) * DAY_S
    origin = start_s - -(-(start_s - first_day) // step_s) * step_s
    read_end = start_s + -(-(stop_day - start_s) // step_s) * step_s
    return {
        "read_start": datetime.fromtimestamp(first_day, UTC),
        "read_end": datetime.fromtimestamp(read_end, UTC),
        "origin": datetime.fromtimestamp(origin, UTC),
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
    key, signal, bucket, total, count, n_all, width = zip(*rows, strict=True)
    key, signal = np.array(key, dtype=object), np.array(signal, dtype=object)
    bucket_s = np.array(bucket, dtype=np.int64)
    count = np.array(count, dtype=np.int64)
    interval = native_intervals(
        key,
        signal,
        bucket_s,
        np.array(n_all, dtype=np.int64),
        np.array(width, dtype=np.float64),
        _epoch_s(params["read_start"]),
    )
    mine = count > 0  # the span's buckets; the others only told their spacing
    if not mine.any():
        return Buckets.empty()
    return Buckets(
        key[mine],
        signal[mine],
        bucket_s[mine].astype("datetime64[s]"),
        np.array(total, dtype=np.float64)[mine],
        count[mine],
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
    span_start, span_end = _utc(span_start), _utc(span_end)
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


# --- the same, from raw rows in memory ----------------------------------------------


def bucket_rows(
    raw: pd.DataFrame,
    key: str,
    span_start: datetime,
    span_end: datetime,
    resolution: timedelta,
    limits: Sequence[Limit] = LIMITS,
    limit_name=lambda signal: signal,
) -> Buckets:
    """`Buckets` from raw rows (columns key, time, signal, value), as the SQL computes them."""
    read = read_range(span_start, span_end, resolution)
    us = np.timedelta64(1, "us")
    start, end, first, stop, origin = (
        np.datetime64(_epoch_s(moment), "s").astype("datetime64[us]")
        for moment in (span_start, span_end, read["read_start"], read["read_end"], read["origin"])
    )
    step = np.timedelta64(int(resolution.total_seconds()), "s")
    times = pd.to_datetime(raw["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
    in_read = (times >= first) & (times < stop)
    df = pd.DataFrame(
        {
            "key": raw[key].to_numpy(object),
            "signal": raw["signal"].to_numpy(object),
            "time": times,
            "value": raw["value"].to_numpy(np.float64),
        }
    )[in_read]
    df = df.assign(bucket=origin + ((df["time"] - origin) // step) * step)
    by_bucket = ["key", "signal", "bucket"]
    spread = df.groupby(by_bucket, sort=True)["time"].agg(["size", "min", "max"])
    idx = spread.index
    interval = native_intervals(
        idx.get_level_values(0).to_numpy(object),
        idx.get_level_values(1).to_numpy(object),
        idx.get_level_values(2).to_numpy("datetime64[s]").astype(np.int64),
        spread["size"].to_numpy(np.int64),
        ((spread["max"] - spread["min"]).to_numpy("timedelta64[us]") // us) / 1e6,
        _epoch_s(read["read_start"]),
    )
    names = df["signal"].map(limit_name)
    low, high = bounds(names, limits)
    value = df["value"].to_numpy()
    ok = (df["time"] >= start) & (df["time"] < end)
    ok &= np.isfinite(value) & (value >= low) & (value <= high)
    agg = df[ok.to_numpy()].groupby(by_bucket, sort=True)["value"].agg(["sum", "count"])
    if agg.empty:
        return Buckets.empty()
    idx = agg.index
    return Buckets(
        idx.get_level_values(0).to_numpy(object),
        idx.get_level_values(1).to_numpy(object),
        idx.get_level_values(2).to_numpy("datetime64[s]"),
        agg["sum"].to_numpy(np.float64),
        agg["count"].to_numpy(np.int64),
        interval,
    )


def inputs_from_frames(
    span_start: datetime,
    span_end: datetime,
    resolution: timedelta,
    *,
    readings: pd.DataFrame,
    sites: pd.DataFrame,
    weather: pd.DataFrame | None = None,
    prices: pd.DataFrame | None = None,
    limits: Sequence[Limit] = LIMITS,
) -> StageInputs:
    """`StageInputs` from raw rows shaped like the tables (readings: site, time, signal,
    value; weather: location, time, signal, value; prices: price_area, hour_utc,
    price_eur_mwh; sites: site, location[, price_area])."""
    span_start, span_end = _utc(span_start), _utc(span_end)
    rb = bucket_rows(readings, "site", span_start, span_end, resolution, limits)
    wb = (
        bucket_rows(
            weather, "location", span_start, span_end, resolution, limits, grid_signal_of_weather
        )
        if weather is not None and len(weather)
        else Buckets.empty()
    )
    if prices is not None and len(prices):
        hours = pd.to_datetime(prices["hour_utc"], utc=True).dt.tz_localize(None)
        lo = np.datetime64(int(span_start.timestamp()) - 3600, "s")
        hi = np.datetime64(int(span_end.timestamp()), "s")
        h = hours.to_numpy("datetime64[s]")
        keep = (h > lo) & (h < hi) & prices["price_eur_mwh"].notna().to_numpy()
        p = Prices(
            prices["price_area"].to_numpy(object)[keep],
            h[keep],
            prices["price_eur_mwh"].to_numpy(np.float64)[keep],
        )
    else:
        p = Prices.empty()
    areas = sites["price_area"] if "price_area" in sites else [DEFAULT_PRICE_AREA] * len(sites)
    return StageInputs(
        span_start,
        span_end,
        resolution,
        rb,
        wb,
        p,
        location=dict(zip(sites["site"], sites["location"], strict=True)),
        price_area=dict(zip(sites["site"], areas, strict=True)),
    )
