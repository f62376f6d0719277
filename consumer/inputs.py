"""What the stages read: one time span of bucketed readings, weather, prices and sites.

The only consumer module that reads stage inputs from the database. Readings and
weather are bucketed in SQL (sum and count per series and bucket, limits applied per
raw sample first), which moves about 1/12 of the rows for 5-minute data on an hourly
grid. `inputs_from_frames` builds the same `StageInputs` from raw rows in memory, for
tests and for callers without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg

from common.sql import query
from consumer.stages.aggregate import (
    Buckets,
    Prices,
    StageInputs,
    grid_signal_of_weather,
)
from consumer.stages.limits import LIMITS, Limit, bounds, like_pattern

__all__ = ["Buckets", "Prices", "StageInputs", "inputs_from_frames", "read_inputs"]

DEFAULT_PRICE_AREA = "DK1"


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


def _buckets(conn: psycopg.Connection, sums: str, intervals: str, params: dict) -> Buckets:
    with conn.cursor() as cur:
        rows = cur.execute(query("inputs", sums), params).fetchall()
        steps = cur.execute(query("inputs", intervals), params).fetchall()
    if not rows:
        return Buckets.empty()
    key, signal, bucket, total, count = zip(*rows, strict=True)
    return Buckets(
        np.array(key, dtype=object),
        np.array(signal, dtype=object),
        np.array(bucket, dtype=np.int64).astype("datetime64[s]"),
        np.array(total, dtype=np.float64),
        np.array(count, dtype=np.int64),
        {(k, s, int(d)): float(v) for k, s, d, v in steps},
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
        "origin": span_start,
        "step": resolution,
        **_limit_params(limits),
    }
    readings = _buckets(conn, "reading_buckets", "reading_intervals", params)
    weather = _buckets(conn, "weather_buckets", "weather_intervals", params)
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
    start = np.datetime64(int(_utc(span_start).timestamp()), "s")
    end = np.datetime64(int(_utc(span_end).timestamp()), "s")
    step = np.timedelta64(int(resolution.total_seconds()), "s")
    times = pd.to_datetime(raw["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[s]")
    in_span = (times >= start) & (times < end)
    df = pd.DataFrame(
        {
            "key": raw[key].to_numpy(object),
            "signal": raw["signal"].to_numpy(object),
            "time": times,
            "value": raw["value"].to_numpy(np.float64),
        }
    )[in_span]
    df = df.assign(day=df["time"].to_numpy("datetime64[D]").astype(np.int64))
    by_day = ["key", "signal", "day"]
    steps = df.sort_values("time").groupby(by_day)["time"].diff().dt.total_seconds()
    steps = steps[steps > 0]
    med = df.loc[steps.index].assign(dt=steps).groupby(by_day)["dt"]
    # percentile_disc(0.5): the smallest value with cumulative share >= 0.5
    interval = med.apply(lambda s: float(np.sort(s.to_numpy())[(len(s) + 1) // 2 - 1]))
    names = df["signal"].map(limit_name)
    low, high = bounds(names, limits)
    ok = np.isfinite(df["value"]) & (df["value"] >= low) & (df["value"] <= high)
    df = df[ok.to_numpy()]
    df = df.assign(bucket=start + ((df["time"] - start) // step) * step)
    agg = df.groupby(["key", "signal", "bucket"], sort=True)["value"].agg(["sum", "count"])
    if agg.empty:
        return Buckets.empty()
    idx = agg.index
    return Buckets(
        idx.get_level_values(0).to_numpy(object),
        idx.get_level_values(1).to_numpy(object),
        idx.get_level_values(2).to_numpy("datetime64[s]"),
        agg["sum"].to_numpy(np.float64),
        agg["count"].to_numpy(np.int64),
        {k: float(v) for k, v in interval.items()},
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
