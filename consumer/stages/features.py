"""Stage 3: features of every window of every site and signal, computed as one batch.

All windows of all signals become rows of one (rows, samples) array on the array module
``xp`` (CuPy on a GPU, NumPy otherwise); every feature is a handful of whole-array
operations on it. Python loops only run over a fixed, small number of sample offsets
(never over windows, signals or sites).

Per-signal features use tsfresh's calculator names and definitions and are computed on a
window's valid (non-NaN) values in time order, gaps squeezed out ("compacted"). The mean
and the sums inside ``variance``, ``standard_deviation``, ``absolute_sum_of_changes``,
``mean_abs_change`` and ``autocorrelation`` reproduce NumPy's pairwise summation bit for
bit (windows up to 128 samples), so comparisons against the mean (count_above_mean,
strikes, crossings) break ties exactly as tsfresh does. A feature that is undefined for a
window is absent from the output, never a placeholder. See README.md, "Features".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from types import ModuleType

import numpy as np

from greenhouse_queue.consumer.stages import greenhouse
from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.sums import row_sum, take_rows
from greenhouse_queue.consumer.stages.windows import (
    WindowSpec,
    bucket_index,
    gather,
    samples_per_window,
)
from greenhouse_queue.consumer.stages.windows import window_starts as _window_starts
from greenhouse_queue.consumer.xp import to_host

QUANTILES = (0.05, 0.25, 0.75, 0.95)

# Named feature sets, chosen per run as tsfresh's ``default_fc_parameters`` is
# (``consumer run --feature-set``); every job records the set that produced its rows.
FEATURE_SETS = ("default",)
DEFAULT_FEATURE_SET = "default"

# Feature names exactly as tsfresh names them for the parameters chosen here.
TSFRESH_FEATURES = (
    "mean",
    "median",
    "standard_deviation",
    "variance",
    "minimum",
    "maximum",
    *(f"quantile__q_{q}" for q in QUANTILES),
    "skewness",
    "kurtosis",
    "abs_energy",
    "absolute_sum_of_changes",
    "mean_change",
    "mean_abs_change",
    "count_above_mean",
    "count_below_mean",
    "longest_strike_above_mean",
    "longest_strike_below_mean",
    'linear_trend__attr_"slope"',
    'linear_trend__attr_"intercept"',
    "autocorrelation__lag_1",
    "cid_ce__normalize_True",
    "number_crossing_m__m_mean",  # tsfresh's m is a number; ours is the window mean
)
SPARSE_FEATURES = ("coverage", "filled_fraction", "longest_gap_hours", "gap_count")

# numpy's pairwise summation switches to recursive halving above this many values.


@dataclass(frozen=True)
class FeatureRows:
    """Equal-length columns of the ``features`` table (without job_id), ready for COPY."""

    site: np.ndarray  # object (str)
    window_start: np.ndarray  # datetime64[s], UTC
    window_end: np.ndarray  # datetime64[s], UTC
    signal: np.ndarray  # object (str)
    feature: np.ndarray  # object (str)
    value: np.ndarray  # float64, never NaN

    def __len__(self) -> int:
        return len(self.value)

    @classmethod
    def empty(cls) -> FeatureRows:
        obj = np.empty(0, dtype=object)
        ts = np.empty(0, dtype="datetime64[s]")
        return cls(obj, ts, ts, obj, obj, np.empty(0, dtype=np.float64))

    @classmethod
    def concat(cls, parts: Iterable[FeatureRows]) -> FeatureRows:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )


# --------------------------------------------------------------------------- kernels


def longest_run(xp: ModuleType, b):
    """Length of the longest run of True in each row of the bool array ``b`` (R, L).

    Each True is labelled with the number of Falses before it, so a run is a label;
    one bincount over (row, label) counts every run at once."""
    rows, length = b.shape
    label = xp.cumsum(~b, axis=1) + (xp.arange(rows) * (length + 1))[:, None]
    counts = xp.bincount(
        label.ravel(), weights=b.ravel().astype(xp.float64), minlength=rows * (length + 1)
    )
    return counts.reshape(rows, length + 1).max(axis=1)


def compact(xp: ModuleType, x):
    """Move each row's valid (non-NaN) values to the front, keeping time order.

    Returns (c, n, inside): compacted values (NaN tail), valid counts, and the mask of
    positions below n."""
    length = x.shape[1]
    pos = xp.arange(length)
    valid = ~xp.isnan(x)
    order = xp.argsort(xp.where(valid, pos, pos + length), axis=1)  # unique keys: any sort
    c = xp.take_along_axis(x, order, axis=1)
    n = valid.sum(axis=1)
    return c, n, pos[None, :] < n[:, None]


def tsfresh_features(xp: ModuleType, x, min_valid: int) -> dict[str, object]:
    """The tsfresh-defined features of each row of ``x`` (R, L, NaN = missing).

    Rows with fewer than ``min_valid`` valid values get NaN everywhere."""
    c, n, inside = compact(xp, x)
    nf = n.astype(xp.float64)
    cz = xp.where(inside, c, 0.0)
    length = x.shape[1]
    pos = xp.arange(length)

    mean = row_sum(xp, cz, n) / nf
    d = xp.where(inside, c - mean[:, None], 0.0)  # centred values, zero past n
    d2 = d * d
    m2 = row_sum(xp, d2, n)  # np.var's sum of squares, same order
    var = m2 / nf
    std = xp.sqrt(var)

    # Sorted once for minimum, maximum, median and every quantile.
    s = xp.sort(xp.where(inside, c, xp.inf), axis=1)
    last = xp.maximum(n - 1, 0)
    minimum, maximum = s[:, 0], take_rows(xp, s, last)
    mid_hi = take_rows(xp, s, n // 2)
    mid_lo = take_rows(xp, s, xp.maximum(n // 2 - 1, 0))
    median = xp.where(n % 2 == 1, mid_hi, (mid_lo + mid_hi) / 2)
    out: dict[str, object] = {
        "mean": mean,
        "median": median,
        "standard_deviation": std,
        "variance": var,
        "minimum": minimum,
        "maximum": maximum,
    }
    for q in QUANTILES:  # numpy's "linear" method and its two-sided lerp
        virtual = (nf - 1) * q
        below = xp.floor(virtual)
        gamma = virtual - below
        lo = xp.maximum(below, 0).astype(xp.int64)
        a, b = take_rows(xp, s, lo), take_rows(xp, s, xp.minimum(lo + 1, last))
        diff = b - a
        out[f"quantile__q_{q}"] = xp.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)

    # pandas' bias-corrected G1 / G2 from central moment sums; undefined when constant.
    m3, m4 = (d2 * d).sum(axis=1), (d2 * d2).sum(axis=1)
    constant = minimum == maximum
    skew = m3 / (m2 * xp.sqrt(m2)) * ((nf * xp.sqrt(nf - 1)) / (nf - 2))
    out["skewness"] = xp.where((n >= 3) & ~constant, skew, xp.nan)
    kurt = ((nf - 1) / ((nf - 2) * (nf - 3))) * (nf * (nf + 1) * (m4 / (m2 * m2)) - 3 * (nf - 1))
    out["kurtosis"] = xp.where((n >= 4) & ~constant, kurt, xp.nan)

    out["abs_energy"] = (cz * cz).sum(axis=1)
    dmask = pos[None, :-1] < (n - 1)[:, None]  # differences inside the valid values
    step = xp.where(dmask, c[:, 1:] - c[:, :-1], 0.0)
    abs_changes = row_sum(xp, xp.abs(step), xp.maximum(n - 1, 0))
    out["absolute_sum_of_changes"] = abs_changes
    many = n >= 2
    out["mean_change"] = xp.where(many, (take_rows(xp, c, last) - c[:, 0]) / (nf - 1), xp.nan)
    out["mean_abs_change"] = xp.where(many, abs_changes / (nf - 1), xp.nan)

    above = inside & (c > mean[:, None])
    below_ = inside & (c < mean[:, None])
    out["count_above_mean"] = above.sum(axis=1).astype(xp.float64)
    out["count_below_mean"] = below_.sum(axis=1).astype(xp.float64)
    out["longest_strike_above_mean"] = longest_run(xp, above)
    out["longest_strike_below_mean"] = longest_run(xp, below_)

    # Least squares against the sample index 0..n-1 (scipy.stats.linregress).
    centre = (nf - 1) / 2
    ti = xp.where(inside, pos[None, :] - centre[:, None], 0.0)
    # A constant window's slope is exactly 0 (scipy returns rounding noise of ~1e-19).
    slope = xp.where(constant, 0.0, (ti * d).sum(axis=1) / (ti * ti).sum(axis=1))
    out['linear_trend__attr_"slope"'] = xp.where(many, slope, xp.nan)
    out['linear_trend__attr_"intercept"'] = xp.where(many, mean - slope * centre, xp.nan)

    lag1 = row_sum(xp, xp.where(dmask, d[:, :-1] * d[:, 1:], 0.0), xp.maximum(n - 1, 0))
    autocorr = lag1 / ((nf - 1) * var)
    out["autocorrelation__lag_1"] = xp.where(xp.abs(var) <= 1e-8, xp.nan, autocorr)

    z = d / xp.where(std == 0, 1.0, std)[:, None]  # tsfresh: 0.0 when std is exactly 0
    zstep = xp.where(dmask, z[:, 1:] - z[:, :-1], 0.0)
    out["cid_ce__normalize_True"] = xp.where(std == 0, 0.0, xp.sqrt((zstep * zstep).sum(axis=1)))

    positive = c > mean[:, None]
    crossings = dmask & (positive[:, 1:] != positive[:, :-1])
    out["number_crossing_m__m_mean"] = crossings.sum(axis=1).astype(xp.float64)

    return _keep_rows(xp, out, n >= min_valid)


def _keep_rows(xp: ModuleType, features: dict[str, object], keep) -> dict[str, object]:
    """The same features with NaN in every row where ``keep`` is False."""
    table = xp.where(keep[None, :], xp.stack(list(features.values())), xp.nan)
    return dict(zip(features, table, strict=True))


def sparse_features(xp: ModuleType, x, filled, coverage, step_hours: float) -> dict[str, object]:
    """Data-availability features of each row; NaN for rows without any valid value."""
    valid = ~xp.isnan(x)
    n = valid.sum(axis=1)
    full = xp.full(x.shape[0], x.shape[1], dtype=n.dtype)
    missing = ~valid
    starts = missing.copy()
    starts[:, 1:] &= valid[:, :-1]  # a gap starts where a missing follows a valid
    out = {
        # An explicit summation order: numpy's own order along an axis depends on the
        # array's shape, and the same window must get the same bits in any batch.
        "coverage": row_sum(xp, xp.nan_to_num(coverage, nan=0.0), full) / coverage.shape[1],
        "filled_fraction": (filled & valid).sum(axis=1) / n.astype(xp.float64),
        "longest_gap_hours": longest_run(xp, missing) * step_hours,
        "gap_count": starts.sum(axis=1).astype(xp.float64),
    }
    return _keep_rows(xp, out, n >= 1)


# --------------------------------------------------------------------------- assembly


def to_rows(
    xp: ModuleType,
    values: Mapping[str, object],
    sites: np.ndarray,
    signals: np.ndarray,
    starts: np.ndarray,
    width: np.timedelta64,
) -> FeatureRows:
    """Turn {feature: (R,) device array} into FeatureRows, dropping NaN values.

    ``sites``, ``signals`` and ``starts`` label the R rows (host arrays)."""
    if not values:
        return FeatureRows.empty()
    names = np.asarray(list(values), dtype=object)
    table = to_host(xp.stack(list(values.values()), axis=1))  # (R, F): one device->host copy
    row, col = np.nonzero(~np.isnan(table))
    return FeatureRows(
        site=sites[row],
        window_start=starts[row],
        window_end=starts[row] + width,
        signal=signals[row],
        feature=names[col],
        value=table[row, col].astype(np.float64),
    )


def extract_features(
    grid: Grid,
    spec: WindowSpec,
    owned: list[tuple[np.datetime64, np.datetime64]],
    xp: ModuleType = np,
    *,
    price_area: Mapping[str, str] | None = None,
    feature_set: str = DEFAULT_FEATURE_SET,
) -> FeatureRows:
    """All features of ``feature_set`` of all windows starting inside the ``owned`` ranges,
    as host columns.

    Windows start at multiples of ``spec.step`` since the epoch inside any owned
    [start, end) range and cover [start, start + width); samples past the grid's edges
    count as missing. ``price_area`` maps a site to its spot-price area (default DK1).
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}; known: {', '.join(FEATURE_SETS)}")
    starts = _window_starts(owned, spec)
    if len(starts) == 0 or not grid.sites or not grid.signals:
        return FeatureRows.empty()
    length = samples_per_window(grid, spec)
    idx = bucket_index(grid, starts, length)
    value = gather(xp, grid.value.astype(np.float64, copy=False), idx, np.nan)  # (S, K, W, L)
    value = _only_where_the_site_logged(xp, value, grid.own_signal_mask)
    filled = gather(xp, grid.filled.astype(bool, copy=False), idx, False)
    coverage = gather(xp, grid.coverage.astype(np.float64, copy=False), idx, 0.0)
    n_sites, n_signals, n_windows = value.shape[:3]
    flat = (n_sites * n_signals * n_windows, length)

    with np.errstate(all="ignore"):  # NaN/inf from empty rows are masked out below
        x = value.reshape(flat)
        per_signal = tsfresh_features(xp, x, spec.min_valid)
        per_signal.update(
            sparse_features(xp, x, filled.reshape(flat), coverage.reshape(flat), grid.step_hours)
        )
        site_level = greenhouse.greenhouse_features(
            xp,
            value,
            grid.signals,
            grid.sites,
            idx_times(grid, starts, length),
            spec,
            price_area or {},
        )

    site_names = np.asarray(grid.sites, dtype=object)
    signal_names = np.asarray(grid.signals, dtype=object)
    s_idx, k_idx, w_idx = np.meshgrid(
        np.arange(n_sites), np.arange(n_signals), np.arange(n_windows), indexing="ij"
    )
    signal_rows = to_rows(
        xp,
        per_signal,
        site_names[s_idx.ravel()],
        signal_names[k_idx.ravel()],
        starts[w_idx.ravel()],
        spec.width_s,
    )
    gs, gw = np.meshgrid(np.arange(n_sites), np.arange(n_windows), indexing="ij")
    site_rows = to_rows(
        xp,
        site_level,
        site_names[gs.ravel()],
        np.full(gs.size, greenhouse.SIGNAL, dtype=object),
        starts[gw.ravel()],
        spec.width_s,
    )
    return FeatureRows.concat([signal_rows, site_rows])


def _only_where_the_site_logged(xp: ModuleType, value, own_signals: np.ndarray):
    """Blanks every signal of a site-window in which none of the site's own signals has a
    value: weather and prices alone do not make a window of a silent greenhouse."""
    own = xp.asarray(own_signals)
    logged = (~xp.isnan(value[:, own])).any(axis=(1, 3))  # (S, W)
    return xp.where(logged[:, None, :, None], value, xp.nan)


def idx_times(grid: Grid, starts: np.ndarray, length: int) -> np.ndarray:
    """(W, L) start times (datetime64[s], UTC) of each window sample."""
    idx = bucket_index(grid, starts, length)
    rel = np.where(idx >= 0, idx, 0)  # times of out-of-grid samples do not matter
    return grid.start.astype("datetime64[s]") + rel * grid.step.astype("timedelta64[s]")
