"""Stage 2: conservative gap filling on the regular grid.

1. A gap, a run of empty buckets, is filled by linear interpolation when
   (missing buckets x step) <= max_gap AND real values bound it on both sides.
   A longer gap stays empty entirely (unlike pandas' `limit`, which fills the
   first `limit` buckets of any gap). Leading and trailing gaps are never filled.
2. Every filled bucket is flagged in `Grid.filled`.

A bucket whose samples the physical limits rejected (stage 1) is empty like any other,
so a short run of them is interpolated and flagged too.

Vectorised over sites x signals x buckets: no Python loop per series.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from greenhouse_queue.consumer.stages.grid import Grid


def max_gap_buckets(step: np.timedelta64, max_gap: timedelta) -> int:
    """How many consecutive empty buckets still count as a short gap."""
    step_s = int(step / np.timedelta64(1, "s"))
    if step_s <= 0:
        raise ValueError("grid step must be positive")
    return int(max_gap.total_seconds() // step_s)


def interpolate_short_gaps(value: np.ndarray, real: np.ndarray, max_missing: int) -> np.ndarray:
    """Real values kept, short bounded gaps interpolated, all else NaN (last axis = time).

    `real` marks buckets that hold a real (measured, in-limit) value. A gap is the run
    of non-real buckets between two real ones; its length is counted in buckets.
    """
    n = value.shape[-1]
    idx = np.arange(n)
    # index of the last real bucket at or before i, and the first at or after i
    prev = np.maximum.accumulate(np.where(real, idx, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(real, idx, n)[..., ::-1], axis=-1)[..., ::-1]
    missing = nxt - prev - 1  # length of the gap bucket i sits in
    fill = ~real & (prev >= 0) & (nxt < n) & (missing <= max_missing)
    out = np.where(real, value, np.nan)
    if not fill.any():
        return out
    p = np.clip(prev, 0, n - 1)
    q = np.clip(nxt, 0, n - 1)
    vp = np.take_along_axis(value, p, axis=-1)
    vq = np.take_along_axis(value, q, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (idx - p) / (q - p)
        interp = vp + (vq - vp) * frac
    out[fill] = interp[fill]
    return out


def fill_gaps(grid: Grid, max_gap: timedelta = timedelta(hours=2)) -> Grid:
    """Stage 2: fill short bounded gaps and flag them.

    A gap's length is the time with no value: (empty buckets) x step. Values that an
    earlier stage-2 run filled are not treated as real, so running twice is harmless.
    """
    if max_gap < timedelta(0):
        raise ValueError("max_gap must not be negative")
    value = grid.value.astype(np.float64, copy=False)
    real = np.isfinite(value) & ~grid.filled
    max_missing = max_gap_buckets(grid.step, max_gap)
    if max_missing > 0:
        out = interpolate_short_gaps(value, real, max_missing)
    else:
        out = np.where(real, value, np.nan)
    filled = np.isfinite(out) & ~real
    return grid.with_values(out, filled)
