"""Stage 1: raw readings, weather and spot prices onto one regular grid per site.

Per (site, signal, bucket): the count of in-limit raw samples, the count of samples the
physical limits rejected, coverage = count / expected samples (expected = resolution /
the series' native sample interval, capped at 1), and the value: the mean of the
samples, but only when the limits rejected none of them. A bucket that lost samples to
the limits has no value of its own, because the mean of what is left is biased in a
direction nobody knows (docs/stages.md, "Physical limits"). Weather joins every site of
its location as `outside_*` signals; a site's own reading of the same name wins over the
station for that site. Spot prices join every site as two columns,
`spot_price_dk1_eur_mwh` and `spot_price_dk2_eur_mwh`; which one applies is
`StageInputs.price_area[site]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.raw import Buckets, Prices, StageInputs
from greenhouse_queue.consumer.stages.times import utc_seconds
from greenhouse_queue.limits import LIMITS, bounds, price_grid_name, weather_grid_name

PRICE_SIGNALS = {area: price_grid_name(area) for area in ("DK1", "DK2")}
HOUR_S = 3600


@dataclass(frozen=True)
class _Cells:
    """The grid's arrays, filled in place."""

    value: np.ndarray
    count: np.ndarray
    coverage: np.ndarray
    rejected: np.ndarray


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
    out: _Cells,
) -> None:
    """Write bucket rows into the grid's cells for every site their key feeds."""
    if len(b.key) == 0:
        return
    t = ((b.bucket - start) / np.timedelta64(1, "s")).astype(np.int64) // step_s
    ok = (t >= 0) & (t < out.value.shape[2]) & ((b.count > 0) | (b.rejected > 0))
    whole = (b.count > 0) & (b.rejected == 0)
    mean = np.divide(b.total, b.count, out=np.full(len(b.total), np.nan), where=whole)
    cov = _coverage(b, b.signal, step_s, b.count)
    k = np.array([signal_index[name] for name in names.tolist()], dtype=np.int64)
    for key, sites in targets.items():
        rows = ok & (b.key == key)
        for s in sites:
            out.value[s, k[rows], t[rows]] = mean[rows]
            out.count[s, k[rows], t[rows]] = b.count[rows]
            out.coverage[s, k[rows], t[rows]] = cov[rows]
            out.rejected[s, k[rows], t[rows]] = b.rejected[rows]


def _place_prices(
    p: Prices, start: np.datetime64, step_s: int, signal_index: dict[str, int], out: _Cells
) -> None:
    """Hourly prices onto the grid: mean over the hours in a bucket, or, on a grid finer
    than an hour, the hour's price in every bucket it covers (a price holds all hour). An
    hour outside the limits is rejected, and takes its buckets' value with it."""
    n_t = out.value.shape[2]
    low, high = bounds(PRICE_SIGNALS.values(), LIMITS)
    for (area, name), lo, hi in zip(PRICE_SIGNALS.items(), low, high, strict=True):
        mine = p.area == area
        hours = ((p.hour[mine] - start) / np.timedelta64(1, "s")).astype(np.int64)
        price = p.eur_mwh[mine]
        good = (price >= lo) & (price <= hi)
        k = signal_index[name]
        if step_s >= HOUR_S:
            t = hours // step_s
            inside = (t >= 0) & (t < n_t)
            total = np.zeros(n_t)
            n = np.zeros(n_t, np.int64)
            bad = np.zeros(n_t, np.int64)
            np.add.at(total, t[inside & good], price[inside & good])
            np.add.at(n, t[inside & good], 1)
            np.add.at(bad, t[inside & ~good], 1)
            whole = (n > 0) & (bad == 0)
            out.value[:, k, whole] = (total[whole] / n[whole])[None, :]
            out.count[:, k, :] = n[None, :]
            out.coverage[:, k, :] = np.minimum(n / (step_s / HOUR_S), 1.0)[None, :]
            out.rejected[:, k, :] = bad[None, :]
        else:
            bucket_s = np.arange(n_t, dtype=np.int64) * step_s
            order = np.argsort(hours)
            hours, price, good = hours[order], price[order], good[order]
            j = np.searchsorted(hours, bucket_s, side="right") - 1
            within = j >= 0
            within[within] = bucket_s[within] < hours[j[within]] + HOUR_S
            ok = within.copy()
            ok[within] = good[j[within]]
            out.value[:, k, ok] = price[j[ok]][None, :]
            out.count[:, k, ok] = 1
            out.coverage[:, k, ok] = 1.0
            out.rejected[:, k, within & ~ok] = 1


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
    weather_names = np.array([weather_grid_name(s) for s in w.signal.tolist()], dtype=object)
    sites = tuple(sorted(set(inputs.location) | set(r.key.tolist())))
    own = sorted(set(r.signal.tolist()))
    outside = sorted(set(weather_names.tolist()) - set(own))
    signals = (*own, *outside, *[s for s in PRICE_SIGNALS.values() if s not in own])
    signal_index = {name: i for i, name in enumerate(signals)}
    site_index = {site: i for i, site in enumerate(sites)}
    shape = (len(sites), len(signals), n_t)
    out = _Cells(
        value=np.full(shape, np.nan),
        count=np.zeros(shape, np.int32),
        coverage=np.zeros(shape),
        rejected=np.zeros(shape, np.int32),
    )

    _place_prices(inputs.prices, start, step_s, signal_index, out)
    by_location: dict[str, list[int]] = {}
    for site, location in inputs.location.items():
        by_location.setdefault(location, []).append(site_index[site])
    _place(w, weather_names, by_location, signal_index, start, step_s, out)
    # a site's own series replaces the station's under the same name, as a whole
    if len(r.key):
        s_own = np.array([site_index[s] for s in r.key.tolist()])
        k_own = np.array([signal_index[s] for s in r.signal.tolist()])
        for cells in (out.count, out.coverage, out.rejected):
            cells[s_own, k_own, :] = 0
        out.value[s_own, k_own, :] = np.nan
    _place(
        r, r.signal, {site: [site_index[site]] for site in sites}, signal_index, start, step_s, out
    )
    return Grid(
        sites=sites,
        signals=signals,
        start=start,
        step=np.timedelta64(step_s, "s"),
        value=out.value,
        count=out.count,
        coverage=out.coverage,
        filled=np.zeros(shape, dtype=bool),
        rejected=out.rejected,
    )
