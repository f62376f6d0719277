"""Sliding windows over the stage 2 grid, batched as (rows, samples) arrays.

A window starts at a multiple of ``step`` since the Unix epoch and covers
[start, start + width). Windows are cut from the grid with one gather, so every
window of every site and signal becomes one row of a 2-D array: the shape the
feature kernels work on without Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType

import numpy as np

from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.times import epoch_seconds

SECOND = np.timedelta64(1, "s")


@dataclass(frozen=True)
class WindowSpec:
    """Window width, step between window starts, and the valid values a window needs."""

    width: timedelta = timedelta(hours=24)
    step: timedelta = timedelta(hours=6)
    min_valid: int = 12

    def __post_init__(self) -> None:
        if self.width <= timedelta(0) or self.step <= timedelta(0):
            raise ValueError("window width and step must be positive")
        if self.min_valid < 1:
            raise ValueError("min_valid must be at least 1")

    @property
    def width_s(self) -> np.timedelta64:
        return np.timedelta64(int(self.width.total_seconds()), "s")

    @property
    def step_s(self) -> np.timedelta64:
        return np.timedelta64(int(self.step.total_seconds()), "s")


def window_starts(
    owned: Iterable[tuple[np.datetime64, np.datetime64]], spec: WindowSpec
) -> np.ndarray:
    """Sorted unique window starts (datetime64[s]) at multiples of ``spec.step`` since the
    epoch that fall inside any owned [start, end) range."""
    step = int(spec.step_s / SECOND)
    parts = []
    for start, end in owned:
        s, e = epoch_seconds(np.datetime64(start, "s")), epoch_seconds(np.datetime64(end, "s"))
        first = -(-s // step) * step  # ceil to the step grid
        parts.append(np.arange(first, e, step, dtype=np.int64))
    if not parts:
        return np.empty(0, dtype="datetime64[s]")
    return np.unique(np.concatenate(parts)).astype("datetime64[s]")


def window_reach(
    start: np.datetime64, end: np.datetime64, spec: WindowSpec
) -> tuple[np.datetime64, np.datetime64]:
    """[start, end) of the time the windows starting inside [start, end) cover (at least
    [start, end) itself): the grid their features are computed from."""
    start, end = np.datetime64(start, "s"), np.datetime64(end, "s")
    starts = window_starts([(start, end)], spec)
    if len(starts) == 0:
        return start, end
    return min(start, starts[0]), max(end, starts[-1] + spec.width_s)


def samples_per_window(grid: Grid, spec: WindowSpec) -> int:
    """Grid buckets in one window; the width must be a whole number of buckets."""
    width, bucket = int(spec.width_s / SECOND), int(grid.step / SECOND)
    if width % bucket:
        raise ValueError(f"window width {spec.width} is not a multiple of the grid step")
    return width // bucket


def bucket_index(grid: Grid, starts: np.ndarray, length: int) -> np.ndarray:
    """(W, L) grid bucket indices of each window's samples; out-of-grid ones are -1.

    A window sample is the first bucket starting at or after its time, so windows whose
    start is not on a bucket boundary still cover exactly [start, start + width).
    """
    bucket = int(grid.step / SECOND)
    offset = (starts.astype("datetime64[s]") - grid.start.astype("datetime64[s]")) / SECOND
    first = -(-offset.astype(np.int64) // bucket)
    idx = first[:, None] + np.arange(length, dtype=np.int64)[None, :]
    return np.where((idx >= 0) & (idx < grid.n_buckets), idx, -1)


def gather(xp: ModuleType, arr: np.ndarray, idx: np.ndarray, fill: float | bool) -> object:
    """Cut (S, K, T) into (S, K, W, L) windows on the device; -1 indices read ``fill``."""
    dev = xp.asarray(arr)
    pad = xp.full((*dev.shape[:2], 1), fill, dtype=dev.dtype)
    dev = xp.concatenate([dev, pad], axis=2)  # index -1 now reads the pad column
    return dev[:, :, xp.asarray(idx)]
