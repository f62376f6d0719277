"""Test oracles: the stage inputs built a second way, from raw rows in memory with pandas,
so that the SQL path (consumer.inputs.read_inputs) can be checked against them.

Not production code: only tests (and benchmarks) import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from greenhouse_queue.consumer.inputs import DEFAULT_PRICE_AREA, native_intervals, read_range
from greenhouse_queue.consumer.stages.raw import Buckets, Prices, StageInputs
from greenhouse_queue.consumer.stages.times import as_utc, epoch_seconds
from greenhouse_queue.limits import LIMITS, Limit, bounds, weather_grid_name


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
        np.datetime64(epoch_seconds(moment), "s").astype("datetime64[us]")
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
        epoch_seconds(read["read_start"]),
    )
    low, high = bounds(df["signal"].map(limit_name), limits)
    value = df["value"].to_numpy()
    mine = ((df["time"] >= start) & (df["time"] < end)).to_numpy()
    ok = np.isfinite(value) & (value >= low) & (value <= high)
    df = df.assign(total=np.where(mine & ok, value, 0.0), n=mine & ok, rejected=mine & ~ok)
    agg = df[mine].groupby(by_bucket, sort=True)[["total", "n", "rejected"]].sum()
    if agg.empty:
        return Buckets.empty()
    idx = agg.index
    n = agg["n"].to_numpy(np.int64)
    return Buckets(
        idx.get_level_values(0).to_numpy(object),
        idx.get_level_values(1).to_numpy(object),
        idx.get_level_values(2).to_numpy("datetime64[s]"),
        np.where(n > 0, agg["total"].to_numpy(np.float64), np.nan),
        n,
        agg["rejected"].to_numpy(np.int64),
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
    span_start, span_end = as_utc(span_start), as_utc(span_end)
    rb = bucket_rows(readings, "site", span_start, span_end, resolution, limits)
    wb = (
        bucket_rows(
            weather, "location", span_start, span_end, resolution, limits, weather_grid_name
        )
        if weather is not None and len(weather)
        else Buckets.empty()
    )
    if prices is not None and len(prices):
        hours = pd.to_datetime(prices["hour_utc"], utc=True).dt.tz_localize(None)
        lo = np.datetime64(epoch_seconds(span_start) - 3600, "s")
        hi = np.datetime64(epoch_seconds(span_end), "s")
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
