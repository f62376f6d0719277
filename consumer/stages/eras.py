"""Stage 4: changepoints in each site's climate regime (eras), by PELT with an L2 cost.

The L2 cost of a segment is the sum of squared deviations from its mean, summed over
the z-scored signals. With prefix sums of x and x², each segment costs O(d):

    C(a, b) = sum_{a<=i<b} |x_i|^2 - |sum_{a<=i<b} x_i|^2 / (b - a)

PELT minimises  sum of segment costs + penalty x (number of segments)  over all
segmentations whose segments hold at least `min_size` points. Pruning follows
Killick et al. (2012), with one correction that ruptures lacks: a candidate that fails
the pruning test at step s is dropped only from step s + min_size on, because s itself
cannot end a segment before then (ruptures prunes at once and can miss the optimum).

The changepoints of a UTC day are decided by one segmentation of that day with its own
look-back and look-ahead, whatever the job that asks: a job of a week or of six hours
gets the same changepoints for its days as daily jobs do, in any order. A changepoint
that falls within `min_size` of one the previous day's segmentation placed is dropped,
so that no era is shorter than `min_size` across day (and job) boundaries either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.times import to_datetime, utc_seconds

# Signals that describe a climate regime; the `eras` view averages the same three.
REGIME_SIGNALS: tuple[str, ...] = ("air_temp_c", "co2_ppm", "rh_percent")
# A signal joins the segmentation when this share of the span's buckets hold a value.
MIN_COVERAGE = 0.5
# The unit whose changepoints one segmentation decides, whatever the job's window.
DAY = np.timedelta64(1, "D").astype("timedelta64[s]")


@dataclass(frozen=True)
class Changepoint:
    site: str
    time: datetime  # UTC: the first bucket of the new era
    cost_gain: float  # L2 cost saved by splitting its two neighbouring segments here
    signals: tuple[str, ...]  # the signals the segmentation used


@dataclass(frozen=True)
class EraResult:
    changepoints: tuple[Changepoint, ...]  # only those inside the job's window
    notes: dict[str, str] = field(default_factory=dict)  # site -> why no eras
    penalty: dict[str, float] = field(default_factory=dict)  # site -> penalty used
    signals: dict[str, tuple[str, ...]] = field(default_factory=dict)  # site -> used


class PrefixL2:
    """O(d) L2 segment costs of a (n, d) array from prefix sums."""

    def __init__(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        self.n = x.shape[0]
        self.s1 = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
        self.s2 = np.concatenate([[0.0], np.cumsum((x * x).sum(axis=1))])

    def cost(self, start: np.ndarray | int, end: int) -> np.ndarray:
        """Cost of segments [start, end) for one end and many starts."""
        sx = self.s1[end] - self.s1[start]
        sq = self.s2[end] - self.s2[start]
        n = end - np.asarray(start)
        return np.maximum(sq - (sx * sx).sum(axis=-1) / n, 0.0)


def pelt_l2(x: np.ndarray, penalty: float, min_size: int = 2) -> list[int]:
    """Optimal breakpoints ruptures-style: segment ends, the last one is len(x).

    Exact minimiser of total L2 cost + penalty per segment, segments >= min_size.

    Ends are solved min_size at a time: a segment ending at `end` starts at or before
    end - min_size, so every end of the block [e, e + min_size) draws only on optima
    before e, and one (candidates x ends) cost matrix replaces min_size Python steps.
    Each end still sees exactly the candidates the one-at-a-time recursion would.
    """
    if penalty < 0:
        raise ValueError("penalty must not be negative")
    min_size = max(int(min_size), 1)
    pc = PrefixL2(x)
    n = pc.n
    if n < 2 * min_size:
        return [n]
    never = np.iinfo(np.int64).max
    best = np.full(n + 1, np.inf)  # best[t] = optimal penalised cost of x[:t]
    best[0] = 0.0
    last = np.zeros(n + 1, dtype=np.int64)
    cands = np.zeros(1, dtype=np.int64)  # ascending, so ties go to the earliest start
    dead_from = np.full(1, never, dtype=np.int64)
    admitted = min_size - 1  # candidates t >= min_size: x[:t] can be segmented
    for first in range(min_size, n + 1, min_size):
        ends = np.arange(first, min(first + min_size, n + 1), dtype=np.int64)
        newest = int(ends[-1]) - min_size  # `end` admits end - min_size as a start
        if newest > admitted:
            fresh = np.arange(admitted + 1, newest + 1, dtype=np.int64)
            cands = np.concatenate([cands, fresh])
            dead_from = np.concatenate([dead_from, np.full(len(fresh), never)])
            admitted = newest
        alive = dead_from > first
        if not alive.all():
            cands, dead_from = cands[alive], dead_from[alive]
        # (candidate, end) pairs the recursion would consider at that end
        usable = (cands[:, None] <= ends - min_size) & (dead_from[:, None] > ends)
        sx = pc.s1[ends] - pc.s1[cands][:, None, :]
        sq = pc.s2[ends] - pc.s2[cands][:, None]
        cost = np.maximum(sq - (sx * sx).sum(axis=-1) / (ends - cands[:, None]), 0.0)
        vals = np.where(usable, best[cands][:, None] + cost, np.inf)
        j = np.argmin(vals, axis=0)
        low = vals[j, np.arange(len(ends))]
        best[ends] = low + penalty
        last[ends] = cands[j]
        # t is beaten by `end` for every later end' >= end + min_size (L2: K = 0); the
        # earliest such end in the block counts, and it only bites after the block
        tol = 1e-10 * (np.abs(low) + 1.0)
        beaten = usable & (vals > low + penalty + tol)
        hit = beaten.any(axis=1)
        if hit.any():
            at = ends[np.argmax(beaten[hit], axis=1)] + min_size
            dead_from[hit] = np.minimum(dead_from[hit], at)
    bkps = []
    t = n
    while t > 0:
        bkps.append(int(t))
        t = int(last[t])
    return bkps[::-1]


# BIC (factor 1) takes the noise as independent; hourly climate is strongly
# autocorrelated, so a stricter factor keeps eras from following every weather front.
PENALTY_FACTOR = 1.5


def default_penalty(n: int, d: int, factor: float = PENALTY_FACTOR) -> float:
    """BIC-style: each new segment costs its d means and its position, x log n, x factor.

    The signals are z-scored, so the noise variance is taken as at most 1.
    """
    return factor * (d + 1) * float(np.log(max(n, 2)))


def default_min_size(step: np.timedelta64) -> int:
    """One day of buckets: shorter 'eras' would be the day/night cycle."""
    return max(2, int(np.timedelta64(1, "D") // step))


def _silent(grid: Grid, s: int, sel: np.ndarray, signals: Sequence[str]) -> bool:
    """True when the site has regime signals but logged none of them in the span."""
    rows = [k for k in (grid.signal_index(name) for name in signals) if k is not None]
    return bool(rows) and not np.isfinite(grid.value[s][np.ix_(rows, np.flatnonzero(sel))]).any()


def _site_matrix(
    grid: Grid, s: int, sel: np.ndarray, signals: Sequence[str], min_coverage: float
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, str | None]:
    """z-scored (rows, d) matrix of usable signals, their names, row indices, or a note."""
    n_span = int(sel.sum())
    present = [(name, grid.signal_index(name)) for name in signals]
    present = [(name, k) for name, k in present if k is not None]
    if not present:
        return (
            np.empty((0, 0)),
            (),
            np.empty(0, int),
            (f"none of {', '.join(signals)} is on the grid"),
        )
    cov = {name: float(np.isfinite(grid.value[s, k, sel]).mean()) for name, k in present}
    used = [(name, k) for name, k in present if cov[name] >= min_coverage]
    if not used:
        best = max(cov, key=cov.get)
        return (
            np.empty((0, 0)),
            (),
            np.empty(0, int),
            (
                f"no regime signal has values in >= {min_coverage:.0%} of the {n_span} buckets "
                f"of the span (best: {best} {cov[best]:.0%})"
            ),
        )
    x = np.stack([grid.value[s, k, sel] for _, k in used], axis=1)
    rows = np.flatnonzero(np.isfinite(x).all(axis=1))
    x = x[rows]
    std = x.std(axis=0) if len(rows) else np.zeros(len(used))
    varying = std > 1e-12
    if len(rows) and not varying.any():
        return np.empty((0, 0)), (), np.empty(0, int), "every regime signal is constant"
    names = tuple(name for (name, _), v in zip(used, varying, strict=True) if v)
    x = x[:, varying]
    x = (x - x.mean(axis=0)) / std[varying]
    return x, names, rows, None


@dataclass(frozen=True)
class EraSettings:
    """How eras are found; see :func:`detect_changepoints`."""

    lookback: timedelta = timedelta(days=7)
    penalty: float | None = None  # None: default_penalty(n, d, penalty_factor)
    min_size: int | None = None  # buckets; None: one day
    lookahead: timedelta | None = None  # None: 2 x min_size buckets
    signals: tuple[str, ...] = REGIME_SIGNALS
    min_coverage: float = MIN_COVERAGE
    penalty_factor: float = PENALTY_FACTOR

    def buckets(self, step: np.timedelta64) -> int:
        return default_min_size(step) if self.min_size is None else self.min_size

    def ahead(self, step: np.timedelta64) -> np.timedelta64:
        """The look-ahead. A change fewer than min_size rows before the end of the span
        cannot be placed where it is, and PELT puts it min_size rows before the end; two
        min_size leave that misplacement outside the day being decided."""
        if self.lookahead is None:
            return step.astype("timedelta64[s]") * 2 * self.buckets(step)
        return np.timedelta64(int(self.lookahead.total_seconds()), "s")


def era_reach(
    job_start: datetime | np.datetime64,
    job_end: datetime | np.datetime64,
    settings: EraSettings,
    step: np.timedelta64,
) -> tuple[np.datetime64, np.datetime64]:
    """The grid [start, end) the eras of a job's window read: its days, the day before
    (whose changepoints can veto the first ones), their look-back and look-ahead."""
    first, last = _days(utc_seconds(job_start), utc_seconds(job_end))
    back = np.timedelta64(int(settings.lookback.total_seconds()), "s")
    return first - DAY - back, last + DAY + settings.ahead(step)


def _days(start: np.datetime64, end: np.datetime64) -> tuple[np.datetime64, np.datetime64]:
    """The first and the last UTC day (their midnights) that [start, end) touches."""
    first = start.astype("datetime64[D]").astype("datetime64[s]")
    last = (end - np.timedelta64(1, "s")).astype("datetime64[D]").astype("datetime64[s]")
    return first, last


class Eras:
    """Stage 4 over one grid: the changepoints of any job window, one UTC day at a time.

    Each day's segmentation is computed once and reused by every window (and the next
    day) that needs it, so a batch of consecutive jobs segments each day once.
    """

    def __init__(self, grid: Grid, settings: EraSettings | None = None) -> None:
        self.grid = grid
        self.settings = settings or EraSettings()
        self.min_size = self.settings.buckets(grid.step)
        self._runs: dict[np.datetime64, EraResult] = {}

    def day(self, midnight: np.datetime64) -> EraResult:
        """The segmentation deciding the changepoints of [midnight, midnight + 1 day)."""
        if midnight not in self._runs:
            self._runs[midnight] = _segment(
                self.grid, midnight, midnight + DAY, self.settings, self.min_size
            )
        return self._runs[midnight]

    def window(
        self, job_start: datetime | np.datetime64, job_end: datetime | np.datetime64
    ) -> EraResult:
        """The changepoints inside [job_start, job_end), and notes for sites without eras."""
        lo, hi = utc_seconds(job_start), utc_seconds(job_end)
        first, last = _days(lo, hi)
        shortest = self.grid.step.astype("timedelta64[s]") * self.min_size
        found: list[Changepoint] = []
        notes: dict[str, str] = {}
        noted: dict[str, int] = {}
        penalties: dict[str, float] = {}
        used: dict[str, tuple[str, ...]] = {}
        days = np.arange(first, last + DAY, DAY)
        for midnight in days:
            run, before = self.day(midnight), self.day(midnight - DAY)
            for point in run.changepoints:
                t = utc_seconds(point.time)
                vetoed = any(
                    p.site == point.site and t - utc_seconds(p.time) < shortest
                    for p in before.changepoints
                )
                if lo <= t < hi and not vetoed:
                    found.append(point)
            for site, note in run.notes.items():
                notes.setdefault(site, note)
                noted[site] = noted.get(site, 0) + 1
            penalties.update(run.penalty)
            used.update(run.signals)
        # a site is noted only when no day of the window could segment it
        notes = {site: note for site, note in notes.items() if noted[site] == len(days)}
        return EraResult(tuple(found), notes, penalties, used)


def detect_changepoints(
    grid: Grid,
    job_start: datetime | np.datetime64,
    job_end: datetime | np.datetime64,
    lookback: timedelta = timedelta(days=7),
    penalty: float | None = None,
    min_size: int | None = None,
    *,
    lookahead: timedelta | None = None,
    signals: Sequence[str] = REGIME_SIGNALS,
    min_coverage: float = MIN_COVERAGE,
    penalty_factor: float = PENALTY_FACTOR,
) -> EraResult:
    """Stage 4 for one job window: PELT per site, per UTC day of [job_start, job_end),
    on [day - lookback, day + 1 day + lookahead).

    Only changepoints inside [job_start, job_end) are returned: the job owns those.
    `min_size` is in buckets (default one day). `lookahead` (default 2 x min_size
    buckets, clipped to the grid) lets a change late in a day be seen with the data after
    it; without it no change could be placed in a day's last min_size buckets. Rows where a
    used signal is empty are skipped, so a segment may span a gap. A changepoint within
    min_size of one the previous day's segmentation placed is dropped.
    """
    settings = EraSettings(
        lookback, penalty, min_size, lookahead, tuple(signals), min_coverage, penalty_factor
    )
    return Eras(grid, settings).window(job_start, job_end)


def _segment(
    grid: Grid,
    decide_lo: np.datetime64,
    decide_hi: np.datetime64,
    settings: EraSettings,
    min_size: int,
) -> EraResult:
    """PELT per site on [decide_lo - lookback, decide_hi + lookahead); the changepoints
    inside [decide_lo, decide_hi), the range this segmentation decides."""
    signals = settings.signals
    times = grid.times
    lo = decide_lo - np.timedelta64(int(settings.lookback.total_seconds()), "s")
    hi = decide_hi + settings.ahead(grid.step)
    sel = (times >= lo) & (times < hi)
    span_times = times[sel]
    found: list[Changepoint] = []
    notes: dict[str, str] = {}
    penalties: dict[str, float] = {}
    used_signals: dict[str, tuple[str, ...]] = {}
    for s, site in enumerate(grid.sites):
        if _silent(grid, s, sel, signals):
            continue  # nothing logged in the span: nothing to explain either
        x, names, rows, note = _site_matrix(grid, s, sel, signals, settings.min_coverage)
        if note is None and len(rows) < 2 * min_size:
            note = (
                f"only {len(rows)} of {len(span_times)} buckets have all of "
                f"{', '.join(names)}; a change needs {2 * min_size} (min_size {min_size})"
            )
        if note is None:
            in_range = (span_times[rows] >= decide_lo) & (span_times[rows] < decide_hi)
            if not in_range.any():
                note = "no usable data inside the job's own window"
        if note is not None:
            notes[site] = note
            continue
        n, d = x.shape
        pen = (
            default_penalty(n, d, settings.penalty_factor)
            if settings.penalty is None
            else float(settings.penalty)
        )
        penalties[site], used_signals[site] = pen, names
        bkps = pelt_l2(x, pen, min_size)
        pc = PrefixL2(x)
        edges = [0, *bkps]
        for i in range(1, len(edges) - 1):
            a, k, b = edges[i - 1], edges[i], edges[i + 1]
            t = span_times[rows[k]]
            if decide_lo <= t < decide_hi:
                gain = float(pc.cost(a, b) - pc.cost(a, k) - pc.cost(k, b))
                found.append(Changepoint(site, to_datetime(t), gain, names))
    return EraResult(tuple(found), notes, penalties, used_signals)
