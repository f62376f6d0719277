"""Stage 1: raw readings, weather and spot prices onto one regular grid per site.

Per (site, signal, bucket): mean = sum / count of the in-limit raw samples, count, and
coverage = count / expected samples, where expected = resolution / the series' native
sample interval (capped at 1). Weather joins every site of its location as `outside_*`
signals; a site's own reading of the same name wins over the station for that site.
Spot prices join every site as two columns, `spot_price_dk1_eur_mwh` and
`spot_price_dk2_eur_mwh`; which one applies is `StageInputs.price_area[site]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from greenhouse_queue.consumer.stages.grid import Grid, utc_seconds
from greenhouse_queue.consumer.stages.limits import LIMITS, bounds

PRICE_SIGNALS = {"DK1": "spot_price_dk1_eur_mwh", "DK2": "spot_price_dk2_eur_mwh"}
HOUR_S = 3600


@dataclass(frozen=True)
class Buckets:
    """Per (key, signal, bucket): sum and count of in-limit raw samples.

    `key` is a site for readings and a weather location for weather. `interval_s` holds
    each series' native sample interval per UTC day (the median spacing of that day's
    buckets, see `consumer.inputs.native_intervals`), keyed (key, signal, days since the
    epoch), for coverage.
    """

    key: np.ndarray  # object (str)
    signal: np.ndarray  # object (str)
    bucket: np.ndarray  # datetime64[s], bucket start
    total: np.ndarray  # float64
    count: np.ndarray  # int64
    interval_s: dict[tuple[str, str, int], float] = field(default_factory=dict)

    @staticmethod
    def empty() -> Buckets:
        return Buckets(
            np.empty(0, object),
            np.empty(0, object),
            np.empty(0, "datetime64[s]"),
            np.empty(0, np.float64),
            np.empty(0, np.int64),
            {},
        )


@dataclass(frozen=True)
class Prices:
    """Hourly day-ahead prices, EUR/MWh, per price area (raw hours, not bucketed)."""

    area: np.ndarray  # object (str)
    hour: np.ndarray  # datetime64[s], hour start, UTC
    eur_mwh: np.ndarray  # float64

    @staticmethod
    def empty() -> Prices:
        return Prices(np.empty(0, object), np.empty(0, "datetime64[s]"), np.empty(0))


@dataclass(frozen=True)
class StageInputs:
    span_start: datetime
    span_end: datetime
    resolution: timedelta
    readings: Buckets
    weather: Buckets
    prices: Prices
    location: dict[str, str]  # site -> weather location
    price_area: dict[str, str]  # site -> spot-price area ('DK1', 'DK2')


def grid_signal_of_weather(signal: str) -> str:
    """Weather joins the grid as outside_*; names already prefixed stay as they are."""
    return signal if signal.startswith("outside_") else f"outside_{signal}"


def n_buckets(span_start, span_end, resolution: timedelta) -> int:
    step = int(resolution.total_seconds())
    if step <= 0:
        raise ValueError("resolution must be positive")
    width = int((utc_seconds(span_end) - utc_seconds(span_start)) / np.timedelta64(1, "s"))
    return max(0, -(-width // step))


def _coverage(b: Buckets, names: np.ndarray, step_s: int, count: np.ndarray) -> np.ndarray:
    """count / expected samples per row; expected from the series' native interval that day."""
    days = b.bucket.astype("datetime64[D]").astype(np.int64)
    expected = np.empty(len(names))
    # few series-days, many rows: look each one up once
    groups: dict[tuple[str, str, int], list[int]] = {}
    for i, series_day in enumerate(zip(b.key.tolist(), names.tolist(), days.tolist(), strict=True)):
        groups.setdefault(series_day, []).append(i)
    for series_day, rows in groups.items():
        interval = b.interval_s.get(series_day)
        if interval and interval > 0:
            expected[rows] = step_s / interval
        else:  # no bucket with two samples that day: the densest bucket is the best guess
            expected[rows] = max(1, int(count[rows].max()))
    return np.minimum(count / np.maximum(expected, 1e-12), 1.0)


def _place(
    b: Buckets,
    names: np.ndarray,
    targets: dict[str, list[int]],
    signal_index: dict[str, int],
    start: np.datetime64,
    step_s: int,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Write bucket rows into (value, count, coverage) for every site their key feeds."""
    if len(b.key) == 0:
        return
    value, count, coverage = out
    t = ((b.bucket - start) / np.timedelta64(1, "s")).astype(np.int64) // step_s
    ok = (t >= 0) & (t < value.shape[2]) & (b.count > 0)
    mean = np.divide(b.total, b.count, out=np.full(len(b.total), np.nan), where=b.count > 0)
    cov = _coverage(b, b.signal, step_s, b.count)
    k = np.array([signal_index[name] for name in names.tolist()], dtype=np.int64)
    for key, sites in targets.items():
        rows = ok & (b.key == key)
        for s in sites:
            value[s, k[rows], t[rows]] = mean[rows]
            count[s, k[rows], t[rows]] = b.count[rows]
            coverage[s, k[rows], t[rows]] = cov[rows]


def _place_prices(
    p: Prices, start: np.datetime64, step_s: int, signal_index: dict[str, int], out
) -> None:
    """Hourly prices onto the grid: mean over the hours in a bucket, or, on a grid finer
    than an hour, the hour's price in every bucket it covers (a price holds all hour)."""
    value, count, coverage = out
    n_t = value.shape[2]
    low, high = bounds(PRICE_SIGNALS.values(), LIMITS)
    for (area, name), lo, hi in zip(PRICE_SIGNALS.items(), low, high, strict=True):
        mine = (p.area == area) & (p.eur_mwh >= lo) & (p.eur_mwh <= hi)
        hours = ((p.hour[mine] - start) / np.timedelta64(1, "s")).astype(np.int64)
        price = p.eur_mwh[mine]
        k = signal_index[name]
        if step_s >= HOUR_S:
            t = hours // step_s
            ok = (t >= 0) & (t < n_t)
            total = np.zeros(n_t)
            n = np.zeros(n_t, np.int64)
            np.add.at(total, t[ok], price[ok])
            np.add.at(n, t[ok], 1)
            has = n > 0
            cov = np.minimum(n / (step_s / HOUR_S), 1.0)
            value[:, k, has] = (total[has] / n[has])[None, :]
            count[:, k, :] = n[None, :]
            coverage[:, k, :] = cov[None, :]
        else:
            bucket_s = np.arange(n_t, dtype=np.int64) * step_s
            order = np.argsort(hours)
            hours, price = hours[order], price[order]
            j = np.searchsorted(hours, bucket_s, side="right") - 1
            valid = j >= 0
            valid[valid] = bucket_s[valid] < hours[j[valid]] + HOUR_S
            value[:, k, valid] = price[j[valid]][None, :]
            count[:, k, valid] = 1
            coverage[:, k, valid] = 1.0


def aggregate(
    inputs: StageInputs,
    span_start: datetime,
    span_end: datetime,
    resolution: timedelta,
) -> Grid:
    """Stage 1: the (sites x signals x buckets) grid of [span_start, span_end)."""
    start = utc_seconds(span_start)
    step_s = int(resolution.total_seconds())
    n_t = n_buckets(span_start, span_end, resolution)
    r, w = inputs.readings, inputs.weather
    weather_names = np.array([grid_signal_of_weather(s) for s in w.signal.tolist()], dtype=object)
    sites = tuple(sorted(set(inputs.location) | set(r.key.tolist())))
    own = sorted(set(r.signal.tolist()))
    outside = sorted(set(weather_names.tolist()) - set(own))
    signals = (*own, *outside, *[s for s in PRICE_SIGNALS.values() if s not in own])
    signal_index = {name: i for i, name in enumerate(signals)}
    site_index = {site: i for i, site in enumerate(sites)}
    shape = (len(sites), len(signals), n_t)
    value = np.full(shape, np.nan)
    count = np.zeros(shape, np.int32)
    coverage = np.zeros(shape)
    out = (value, count, coverage)

    _place_prices(inputs.prices, start, step_s, signal_index, out)
    by_location: dict[str, list[int]] = {}
    for site, location in inputs.location.items():
        by_location.setdefault(location, []).append(site_index[site])
    _place(w, weather_names, by_location, signal_index, start, step_s, out)
    # a site's own series replaces the station's under the same name, as a whole
    if len(r.key):
        s_own = np.array([site_index[s] for s in r.key.tolist()])
        k_own = np.array([signal_index[s] for s in r.signal.tolist()])
        value[s_own, k_own, :] = np.nan
        count[s_own, k_own, :] = 0
        coverage[s_own, k_own, :] = 0.0
    _place(
        r, r.signal, {site: [site_index[site]] for site in sites}, signal_index, start, step_s, out
    )
    return Grid(
        sites=sites,
        signals=signals,
        start=start,
        step=np.timedelta64(step_s, "s"),
        value=value,
        count=count,
        coverage=coverage,
        filled=np.zeros(shape, dtype=bool),
    )
